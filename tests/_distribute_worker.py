"""Helper processes for tests/test_distribute.py (not collected by pytest).

TensorFlow fixes its device list, and reads TF_CONFIG, once per process, so
every distributed run happens here, in a fresh interpreter:

    python tests/_distribute_worker.py mirrored OUT_DIR
        Splits the CPU into two logical devices, then trains the same pruned
        MLP from the same initial weights on the same batches (a) under
        MirroredStrategy over both devices and (b) on one device without a
        strategy, and also (c, d) on one device with lambda doubled and
        halved: what a soft-L0 term counted once per replica, or divided by
        the replica count once too often, would give; then (a, b) with
        SparsityTarget, and (a, b) with granularity="channel". Writes
        OUT_DIR/mirrored.npz.

    python tests/_distribute_worker.py multiworker OUT_DIR INDEX PORT0,PORT1
        One worker of a two-worker MultiWorkerMirroredStrategy on 127.0.0.1
        (TF_CONFIG is set here, before TensorFlow starts). Trains a pruned
        MLP with the LTP callbacks (TrailCheckpoint included); the chief
        writes OUT_DIR/trail/, saves OUT_DIR/model.keras, exports
        OUT_DIR/saved_model and writes its predictions, the other worker runs
        the same code into a scratch directory that it deletes. Each worker
        prints one line `RESULT {json}`.

Both end with os._exit(0) once their output is written: TensorFlow's exit
handlers (the collective runtime's shutdown, thread pools) add seconds and
can wait on a worker that has already gone.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Shared with the test.
SAMPLES = 256
FEATURES = 16
CLASSES = 4
HIDDEN = 32
PRUNABLE = FEATURES * HIDDEN + HIDDEN * CLASSES  # 640 weights pruned
GLOBAL_BATCH = 32  # 8 optimizer steps per epoch
EPOCHS = 3
OPTIONS = dict(l0_strength=2.0, temperature=0.5, threshold_gain=10.0)
LEARNING_RATE = 1e-2
TARGET = 0.555  # SparsityTarget; 0.555 * PRUNABLE is not a whole count
# Channel granularity: the hidden layer's 32 units are the channels (the head
# is a model output and keeps its width).
CHANNEL_OPTIONS = dict(granularity="channel", fallback="dense")


def data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype("float32")
    teacher = rng.normal(size=(FEATURES, CLASSES)).astype("float32")
    teacher[6:] = 0.0  # only 6 of the 16 features matter: there is something to prune
    y = np.argmax(x @ teacher, axis=1).astype("int32")
    return x, y


def dense_model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu", name="hidden"),
            keras.layers.Dense(CLASSES, name="head"),
        ],
        name="mlp",
    )


def compiled_pruned(dense, **overrides):
    """prune() + compile(); call it inside `strategy.scope()`."""
    import keras

    import keras_ltp

    pruned = keras_ltp.prune(dense, **{**OPTIONS, **overrides})
    pruned.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return pruned


def callbacks(target=False):
    import keras_ltp

    chosen = [
        keras_ltp.callbacks.TemperatureScheduler.exponential(start=0.5, end=0.2, epochs=EPOCHS),
        keras_ltp.callbacks.SparsityMonitor(),
    ]
    if target:
        chosen.append(keras_ltp.callbacks.SparsityTarget(TARGET, check_every=4))
    return chosen


def thresholds_of(model):
    import numpy as np

    from keras_ltp import iter_wrappers

    return [float(np.asarray(t.value)) for w in iter_wrappers(model) for t in w.thresholds]


def _exit():
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# -- MirroredStrategy on two logical CPUs ----------------------------------------


def mirrored(out_dir):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    import numpy as np

    import keras_ltp

    x, y = data()
    dense = dense_model()
    fit = dict(batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0)

    def summary(model, history):
        return {
            "thresholds": np.array(thresholds_of(model)),
            "sparsity": np.array(keras_ltp.sparsity(model)["sparsity"]),
            "weights": np.concatenate([np.asarray(v.value).ravel() for v in model.trainable_weights]),
            "l0_strength": np.array(
                [float(np.asarray(v.value)) for v in model.non_trainable_weights if "l0_strength" in v.path]
            ),
            "loss": np.array(history.history["loss"]),
            "predictions": np.asarray(model(x, training=False)),
        }

    results = {}
    # (suffix, SparsityTarget on, prune() options)
    variants = [("", False, {}), ("_target", True, {}), ("_channel", False, CHANNEL_OPTIONS)]
    # One strategy for all variants: each new MirroredStrategy starts its
    # collective instance keys over, and TensorFlow's collective runtime
    # still holds the shapes of the previous one's ("Shape mismatch in the
    # collective instance 100" once two models differ in size).
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for suffix, with_target, options in variants:
        with strategy.scope():
            model = compiled_pruned(dense, **options)
        history = model.fit(x, y, callbacks=callbacks(with_target), **fit)
        entry = summary(model, history)
        entry["replicas"] = np.array(strategy.num_replicas_in_sync)
        # Weights, thresholds, T0, lambda and the optimizer's state.
        variables = model.variables + model.optimizer.variables
        mirrored_vars = [v for v in variables if isinstance(v.value, tf.distribute.DistributedValues)]
        entry["mirrored_fraction"] = np.array(len(mirrored_vars) / len(variables))
        # Largest difference between the two replicas' copies of a variable:
        # callbacks assign in cross-replica context, which must reach both.
        entry["replica_spread"] = np.array(
            max(
                float(np.max(np.abs(np.asarray(v.value.values[0]) - np.asarray(v.value.values[1]))))
                for v in mirrored_vars
            )
        )
        results["mirrored" + suffix] = entry

        runs = [("single", 1.0)] if suffix else [("single", 1.0), ("double_lambda", 2.0), ("half_lambda", 0.5)]
        for name, factor in runs:  # prune() copies `dense`, which stays as it is
            with tf.device("/cpu:0"):
                model = compiled_pruned(dense, **options, l0_strength=OPTIONS["l0_strength"] * factor)
                history = model.fit(x, y, callbacks=callbacks(with_target), **fit)
            results[name + suffix] = summary(model, history)

    flat = {f"{run}/{key}": value for run, entry in results.items() for key, value in entry.items()}
    np.savez(os.path.join(out_dir, "mirrored.npz"), **flat)
    print("RESULT ok")
    _exit()


# -- MultiWorkerMirroredStrategy, two processes ------------------------------------


def multiworker(out_dir, index, ports):
    index = int(index)
    workers = [f"127.0.0.1:{p}" for p in ports.split(",")]
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
    import shutil
    import tempfile

    import numpy as np
    import tensorflow as tf

    import keras_ltp

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    is_chief = strategy.cluster_resolver.task_id == 0

    x, y = data()
    with strategy.scope():
        model = compiled_pruned(dense_model())

    # Only the chief writes where others read (the TF multi-worker guide's
    # rule); the other workers run the same code into a scratch directory
    # that they delete at the end.
    target = out_dir if is_chief else tempfile.mkdtemp(prefix=f"ltp_worker{index}_")

    def fit():
        # Every worker passes the same arrays; Keras shards each global
        # batch of GLOBAL_BATCH examples across the workers.
        trail = keras_ltp.callbacks.TrailCheckpoint(os.path.join(target, "trail"), every_epoch=True)
        return model.fit(
            x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=callbacks() + [trail]
        )

    try:
        history = fit()
        fix_needed = False
    except ValueError as error:
        # Bug 1 of keras_ltp.distribute.fix_multiworker_reduce raises before the first step on
        # every worker alike (no collective has run), so they stay in step.
        if "PerReplica" not in str(error):
            raise
        keras_ltp.distribute.fix_multiworker_reduce(strategy)
        history = fit()
        fix_needed = True

    model.save(os.path.join(target, "model.keras"))
    keras_ltp.export.saved_model(model, os.path.join(target, "saved_model"))
    if is_chief:
        np.save(os.path.join(out_dir, "x.npy"), x)
        # The chief's in-memory model, called directly: hard masks.
        np.save(os.path.join(out_dir, "predictions.npy"), np.asarray(model(x, training=False)))
    else:
        shutil.rmtree(target)
    result = {
        "index": index,
        "chief": is_chief,
        "replicas": strategy.num_replicas_in_sync,
        "sparsity": keras_ltp.sparsity(model)["sparsity"],
        "thresholds": thresholds_of(model),
        "logged_sparsity": history.history["sparsity"],
        "loss": history.history["loss"],
        "keras_fix_needed": fix_needed,
        "wrote": target,
    }
    print("RESULT " + json.dumps(result))
    _exit()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"mirrored": mirrored, "multiworker": multiworker}[mode](*args)
