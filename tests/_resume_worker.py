"""Helper process for tests/test_resume.py (not collected by pytest).

One LTP training script, run the way a user runs it under a scheduler that may
kill it: every callback the package offers, plus
`keras.callbacks.BackupAndRestore`. Running the same command again after a
kill resumes the run.

    python tests/_resume_worker.py WORK_DIR BACKUP [--pause EPOCH BATCH]

    BACKUP is "batch" (back up every BACKUP_EVERY batches, to
    WORK_DIR/backup_batch), "epoch" (back up at every epoch end, to
    WORK_DIR/backup_epoch) or "both" (both callbacks: one run that can be
    resumed from either backup). The trail goes to WORK_DIR/trail.

    --pause EPOCH BATCH: after batch BATCH (0-based) of epoch EPOCH (0-based),
        write WORK_DIR/paused.json and sleep, so that the test can kill the
        process at a known point in the middle of an epoch.

What it writes for the test, besides the backups and the trail:

    WORK_DIR/batch_log.json  (with --pause) state after every batch and every
        epoch end, the moments BackupAndRestore saves
    WORK_DIR/restored.json   state right after BackupAndRestore restored it
        (at the start of fit)
    WORK_DIR/final.json, WORK_DIR/final_weights.npz  state at the end of fit

"State" is: the optimizer step, every wrapper's thresholds, temperature and
lambda, and a SHA-256 digest of every model and optimizer variable.

The test builds its uninterrupted reference with the same functions
(`build`, `data`, `callbacks`), in its own process.
"""

import hashlib
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# tests/ (this file's folder) holds the shared helpers: it is sys.path[0] when
# this runs as a script, and on sys.path under pytest; make sure either way.
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402  (numpy only: TensorFlow starts later)

SAMPLES = 512
FEATURES = 20
CLASSES = 4
BATCH = 32  # 16 steps per epoch
EPOCHS = 6
BACKUP_EVERY = 5  # batches; does not divide an epoch, so backups fall mid-epoch
CHECK_EVERY = 3  # SparsityTarget; divides neither an epoch nor BACKUP_EVERY
TARGET = 0.8
TRAIL_STEPS = (0.3, 0.5, 0.6, 0.7, 0.75, 0.8)


def data():
    return helpers.teacher_data(SAMPLES, FEATURES, CLASSES, relevant=8)  # only 8 features matter


def build():
    import keras

    import keras_ltp

    keras.utils.set_random_seed(0)
    dense = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(CLASSES, name="head"),
        ],
        name="mlp",
    )
    model = keras_ltp.prune(dense, l0_strength=0.05, temperature=0.5, threshold_gain=10.0)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def callbacks(trail_dir):
    """The LTP callbacks, in the order a user would list them. The script is
    run again to resume after a kill, so the trail is opened with
    resume=True: a restarted run continues the trail the killed one began
    (on the first run the directory is new, and resume=True starts it)."""
    from keras_ltp.callbacks import SparsityMonitor, SparsityTarget, TemperatureScheduler, TrailCheckpoint

    return [
        TemperatureScheduler.exponential(start=1.0, end=0.3, epochs=EPOCHS),
        SparsityTarget(TARGET, check_every=CHECK_EVERY),
        SparsityMonitor(),
        TrailCheckpoint(trail_dir, sparsity_steps=TRAIL_STEPS, resume=True),
    ]


def fit_arguments():
    x, y = data()
    return dict(x=x, y=y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, validation_data=(x[:128], y[:128]), verbose=0)


def state(model):
    import keras
    import numpy as np

    from keras_ltp import iter_wrappers

    digest = hashlib.sha256()
    for variable in list(model.weights) + list(model.optimizer.variables):
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value)).tobytes())
    return {
        "step": int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)),
        "thresholds": helpers.thresholds(model, by_layer=True),
        "temperature": {w.name: helpers.scalar(w.temperature) for w in iter_wrappers(model)},
        "l0_strength": {w.name: helpers.scalar(w.l0_strength) for w in iter_wrappers(model)},
        "digest": digest.hexdigest(),
    }


def all_variables(model):
    import keras

    values = {f"model/{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(model.weights)}
    values.update(
        {f"optimizer/{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(model.optimizer.variables)}
    )
    return values


def write_json(path, payload):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(temporary, path)


def main(work_dir, backup, pause=None):
    import keras
    import numpy as np

    import keras_ltp

    model = build()
    backups = []
    if backup in ("batch", "both"):
        backups.append(keras.callbacks.BackupAndRestore(os.path.join(work_dir, "backup_batch"), save_freq=BACKUP_EVERY))
    if backup in ("epoch", "both"):
        backups.append(keras.callbacks.BackupAndRestore(os.path.join(work_dir, "backup_epoch"), save_freq="epoch"))
    if not backups:
        raise SystemExit(f"BACKUP must be batch, epoch or both, got {backup!r}")

    log_path = os.path.join(work_dir, "batch_log.json")
    log = {}

    class Log(keras.callbacks.Callback):
        """Right after the backups: records what they restored and saved."""

        def __init__(self):
            super().__init__()
            self.epoch = None

        def on_train_begin(self, logs=None):
            write_json(os.path.join(work_dir, "restored.json"), state(self.model))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if pause is None:
                return  # only the run that will be killed keeps this log
            log[f"batch_end {self.epoch} {batch}"] = state(self.model)
            write_json(log_path, log)
            if (self.epoch, batch) == pause:
                write_json(
                    os.path.join(work_dir, "paused.json"), {"pid": os.getpid(), "epoch": self.epoch, "batch": batch}
                )
                time.sleep(300)  # the test kills us here

        def on_epoch_end(self, epoch, logs=None):
            if pause is None:
                return
            log[f"epoch_end {epoch}"] = state(self.model)
            write_json(log_path, log)

    # The backups come first: Log sees the state they save, and (at the start
    # of fit) the state they restored.
    history = model.fit(callbacks=backups + [Log()] + callbacks(os.path.join(work_dir, "trail")), **fit_arguments())
    final = dict(state(model), history=history.history, sparsity=keras_ltp.sparsity(model)["sparsity"])
    write_json(os.path.join(work_dir, "final.json"), final)
    np.savez(os.path.join(work_dir, "final_weights.npz"), **all_variables(model))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    pause = None
    if "--pause" in arguments:
        at = arguments.index("--pause")
        pause = (int(arguments[at + 1]), int(arguments[at + 2]))
        del arguments[at : at + 3]
    main(*arguments, pause=pause)
