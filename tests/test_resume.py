"""Interruption: a run killed mid-epoch and restarted with BackupAndRestore,
and a run whose loss turns NaN.

The kill test runs tests/_resume_worker.py (one LTP training script with
TemperatureScheduler, SparsityTarget, SparsityMonitor, TrailCheckpoint and
two BackupAndRestore callbacks: every 5 batches, and every epoch), and kills
it with SIGKILL in the middle of epoch 3 of 6 (after its batch 11 of 16; the
last batch-level backup is from 3 batches earlier, the last epoch-level one
from the end of epoch 2). The same script is then started again, once from
each backup.

What "resumes" means depends on the backup, because Keras 3 (3.15 checked)
restores the weights of a mid-epoch backup but restarts that epoch from its
first batch (BackupAndRestore writes the batch number and never reads it):

* from the epoch-end backup, the resumed run IS the uninterrupted run:
  compared bit for bit (every model and optimizer variable, thresholds,
  temperature, lambda, history, the trail index);
* from the mid-epoch backup, it trains the 8 batches before the backup a
  second time (8 more optimizer steps), so it cannot equal the uninterrupted
  run: measured, its final hidden-layer threshold was 29% lower, lambda 3x
  smaller, sparsity 79.4% instead of 79.8%. It is compared bit for bit with
  the same interruption made in this process (an exception right after that
  backup, then a new model and new callbacks): the state Keras defines a
  resumed run to have.

In both, the state right after the restore equals, bit for bit, the state
the killed process had when it wrote the backup, including the optimizer step
count that times SparsityTarget's checks.

No tolerance is used: with shuffle=False the batches are the same, and the
CPU kernels give the same bits in every process (checked with 1 and 2
threads, and with oneDNN off).
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import iter_wrappers, trail
from keras_ltp.callbacks import SparsityMonitor, SparsityTarget, TrailCheckpoint

WORKER = Path(__file__).with_name("_resume_worker.py")
_spec = importlib.util.spec_from_file_location("_resume_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

KILL_AT = (2, 10)  # (epoch, batch), both 0-based: mid-epoch, 3 batches after a backup
STEPS_PER_EPOCH = worker.SAMPLES // worker.BATCH
KILL_STEP = KILL_AT[0] * STEPS_PER_EPOCH + KILL_AT[1] + 1  # optimizer steps done when killed
BATCH_BACKUP_STEP = KILL_STEP // worker.BACKUP_EVERY * worker.BACKUP_EVERY  # the last backup before
EPOCH_BACKUP_STEP = KILL_AT[0] * STEPS_PER_EPOCH
TIMEOUT = 300  # seconds for one worker; a run takes about 10 s on 2 cores


def _start(work_dir, backup, *extra):
    log = open(work_dir / f"worker_{backup}.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(work_dir), backup, *extra], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process


def _log_tail(work_dir, backup):
    return (work_dir / f"worker_{backup}.log").read_text()[-3000:]


def _finish(process, work_dir, backup):
    try:
        code = process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, _log_tail(work_dir, backup)


def _read_json(path):
    return json.loads(Path(path).read_text())


def _strict_json(path):
    """Parses as standard JSON (no NaN or Infinity)."""

    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def _crash_then_resume(directory):
    """The interruption in this process: an exception right after the
    batch-level backup that the kill leaves as the latest, then a new model
    and new callbacks."""
    epoch = KILL_AT[0]
    batch = BATCH_BACKUP_STEP - epoch * STEPS_PER_EPOCH - 1

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e

        def on_train_batch_end(self, b, logs=None):
            if (self.epoch, b) == (epoch, batch):
                raise RuntimeError("simulated preemption")

    def backup():
        return keras.callbacks.BackupAndRestore(str(directory / "backup"), save_freq=worker.BACKUP_EVERY)

    model = worker.build()
    with pytest.raises(RuntimeError, match="preemption"):
        model.fit(
            callbacks=[backup()] + worker.callbacks(str(directory / "trail")) + [Crash()], **worker.fit_arguments()
        )
    model = worker.build()
    model.fit(callbacks=[backup()] + worker.callbacks(str(directory / "trail")), **worker.fit_arguments())
    return worker.state(model)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Kills a training process mid-epoch and resumes it from each backup."""
    root = tmp_path_factory.mktemp("resume")
    killed = root / "killed"
    killed.mkdir()
    process = _start(killed, "both", "--pause", *map(str, KILL_AT))
    try:
        # The references, computed here while the worker starts.
        model = worker.build()
        history = model.fit(callbacks=worker.callbacks(str(root / "reference_trail")), **worker.fit_arguments())
        reference = dict(worker.state(model), history=history.history, sparsity=keras_ltp.sparsity(model)["sparsity"])
        reference_variables = worker.all_variables(model)
        emulated = _crash_then_resume(root / "emulated_batch")

        deadline = time.monotonic() + TIMEOUT
        while not (killed / "paused.json").exists():
            assert process.poll() is None, _log_tail(killed, "both")
            assert time.monotonic() < deadline, "the worker never reached the kill point"
            time.sleep(0.1)
        process.kill()  # SIGKILL: no exception, no callback, no atexit handler runs
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if os.name == "posix":
        assert process.returncode == -signal.SIGKILL
    paused = _read_json(killed / "paused.json")
    assert (paused["epoch"], paused["batch"]) == KILL_AT
    backup_metadata = _read_json(killed / "backup_batch" / "training_metadata.json")
    trail_at_kill = trail.read_index(killed / "trail")

    # Restart the same script from each backup, on its own copy of the trail.
    # A kill while saving leaves temporary files; plant some in one copy.
    resumed = {}
    for backup in ("batch", "epoch"):
        directory = root / backup
        directory.mkdir()
        shutil.copytree(killed / "trail", directory / "trail")
        shutil.copytree(killed / f"backup_{backup}", directory / f"backup_{backup}")
    (root / "batch" / "trail" / ".epoch004_sparsity81.00.keras.tmp.keras").write_bytes(b"PK\x03\x04 cut short")
    (root / "batch" / "trail" / "index.json.tmp").write_text('[{"file": "epoch004_spar')
    processes = {backup: _start(root / backup, backup) for backup in ("batch", "epoch")}  # in parallel
    try:
        for backup, process in processes.items():
            _finish(process, root / backup, backup)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for backup in processes:
        with np.load(root / backup / "final_weights.npz") as variables:
            resumed[backup] = {
                "restored": _read_json(root / backup / "restored.json"),
                "final": _read_json(root / backup / "final.json"),
                "variables": dict(variables),
                "trail": root / backup / "trail",
            }
    return {
        "killed_log": _read_json(killed / "batch_log.json"),
        "backup_metadata": backup_metadata,
        "trail_at_kill": trail_at_kill,
        "reference": reference,
        "reference_variables": reference_variables,
        "reference_trail": root / "reference_trail",
        "emulated": emulated,
        "resumed": resumed,
    }


def _same_state(got, expected):
    for key in ("step", "thresholds", "temperature", "l0_strength", "digest"):
        assert got[key] == expected[key], (key, got[key], expected[key])


@pytest.mark.slow
def test_restored_state_is_the_state_the_killed_run_backed_up(runs):
    log = runs["killed_log"]
    epoch, batch = KILL_AT
    # What the killed process held right after writing each backup...
    at_batch_backup = log[f"batch_end {epoch} {BATCH_BACKUP_STEP - epoch * STEPS_PER_EPOCH - 1}"]
    at_epoch_backup = log[f"epoch_end {epoch - 1}"]
    assert at_batch_backup["step"] == BATCH_BACKUP_STEP and at_epoch_backup["step"] == EPOCH_BACKUP_STEP
    # (the batch-level backup says so too: Keras records the batch, but on
    # restore uses only the epoch)...
    assert runs["backup_metadata"] == {"epoch": epoch, "batch": BATCH_BACKUP_STEP - epoch * STEPS_PER_EPOCH - 1}
    # ...and it went on training after them before it was killed.
    assert log[f"batch_end {epoch} {batch}"]["step"] == epoch * STEPS_PER_EPOCH + batch + 1
    assert log[f"batch_end {epoch} {batch}"]["digest"] != at_batch_backup["digest"]
    # Thresholds, temperature, lambda, the step count that times SparsityTarget,
    # and every other variable (digest) are restored bit for bit.
    _same_state(runs["resumed"]["batch"]["restored"], at_batch_backup)
    _same_state(runs["resumed"]["epoch"]["restored"], at_epoch_backup)


@pytest.mark.slow
def test_resumed_from_epoch_backup_equals_the_uninterrupted_run(runs):
    got, reference = runs["resumed"]["epoch"], runs["reference"]
    _same_state(got["final"], reference)
    for name, value in runs["reference_variables"].items():
        np.testing.assert_array_equal(got["variables"][name], value, err_msg=name)
    # The resumed process trained epochs 3-6, and logged what the reference did.
    for key in ("loss", "val_accuracy", "sparsity", "l0_strength", "temperature"):
        assert got["final"]["history"][key] == reference["history"][key][2:], key
    # The trail is the uninterrupted run's trail.
    assert _strict_json(got["trail"] / "index.json") == _strict_json(runs["reference_trail"] / "index.json")


@pytest.mark.slow
def test_resumed_from_mid_epoch_backup_is_what_keras_defines(runs):
    got, reference = runs["resumed"]["batch"]["final"], runs["reference"]
    # Keras restarts the interrupted epoch from its first batch: the 8 batches
    # before the backup are trained twice.
    replayed = BATCH_BACKUP_STEP - EPOCH_BACKUP_STEP
    assert got["step"] == reference["step"] + replayed
    assert len(got["history"]["loss"]) == worker.EPOCHS - KILL_AT[0]  # epochs 3-6
    _same_state(got, runs["emulated"])
    print("final sparsity: resumed", got["sparsity"], "uninterrupted", reference["sparsity"])
    print("thresholds: resumed", got["thresholds"], "uninterrupted", reference["thresholds"])
    print("lambda: resumed", got["l0_strength"], "uninterrupted", reference["l0_strength"])


@pytest.mark.slow
@pytest.mark.parametrize("backup", ["batch", "epoch"])
def test_trail_is_intact_after_the_kill(runs, backup):
    directory = runs["resumed"][backup]["trail"]
    raw = _strict_json(directory / "index.json")
    entries = trail.read_index(directory)
    assert len(raw) == len(entries) >= 3
    before = runs["trail_at_kill"]
    assert before and not any(e["final"] for e in before)  # the killed run never ended its fit

    def kept(step):  # the checkpoint a step keeps: its non-final entry, else the final one
        return sorted((e for e in entries if e["step"] == step), key=lambda e: e["final"])[0]

    # The resumed run continued the killed run's trail (it passes
    # resume=True): what was saved before the kill is still there,
    # unchanged, unless the resumed run found a better model of its step.
    for old in before:
        now = kept(old["step"])
        if now["file"] == old["file"]:
            assert dict(now, path=None, final=False) == dict(old, path=None)
        else:
            assert now["epoch"] > old["epoch"]
            assert now["metrics"]["val_accuracy"] > old["metrics"]["val_accuracy"]
    # One checkpoint per step, and the final model: the last epoch's.
    steps = [e["step"] for e in entries if not e["final"]]
    assert None not in steps and len(steps) == len(set(steps))
    [final] = [e for e in entries if e["final"]]
    history = runs["resumed"][backup]["final"]["history"]
    assert final["epoch"] == worker.EPOCHS
    assert final["sparsity"] == final["metrics"]["sparsity"] == history["sparsity"][-1]
    assert final["metrics"]["val_accuracy"] == history["val_accuracy"][-1]
    # Every listed file exists and loads; nothing else is in the directory
    # (neither a replaced checkpoint nor the temporary files planted as if a
    # save had been cut short).
    assert sorted(os.listdir(directory)) == sorted([e["file"] for e in entries] + [trail.INDEX_NAME])
    for entry in entries:
        model = keras.saving.load_model(entry["path"], safe_mode=True)
        assert keras_ltp.sparsity(model)["sparsity"] == entry["sparsity"]
        assert all(np.isfinite(keras.ops.convert_to_numpy(v.value)).all() for v in model.weights)
    sparsest = max(entries, key=lambda e: e["sparsity"])
    assert trail.select(directory, metric="sparsity")["path"] == sparsest["path"]


def _poisoned_fit(tmp_path, poison_at, variable_of):
    """Fits up to 6 epochs; at `poison_at` = (epoch, batch, "begin" | "end")
    writes a NaN into one weight, as a diverging step would. Returns the
    history, the trail directory, TrailCheckpoint's warnings, and the trail's
    files as they were before the NaN."""
    epoch, batch, when = poison_at

    directory = tmp_path / "trail"
    before_nan = {}

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e
            if e == epoch:  # the trail as it is before anything goes wrong
                before_nan.update({name: (directory / name).read_bytes() for name in os.listdir(directory)})

        def _poison(self, b):
            if (self.epoch, b) == (epoch, batch):
                variable = variable_of(self.model)
                value = keras.ops.convert_to_numpy(variable.value).copy()
                value.flat[0] = np.nan
                variable.assign(value)

        def on_train_batch_begin(self, b, logs=None):
            if when == "begin":
                self._poison(b)

        def on_train_batch_end(self, b, logs=None):
            if when == "end":
                self._poison(b)

    model = worker.build()
    arguments = dict(worker.fit_arguments(), epochs=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            callbacks=[
                Poison(),
                SparsityMonitor(),
                TrailCheckpoint(directory, every_epoch=True),
                keras.callbacks.TerminateOnNaN(),
            ],
            **arguments,
        )
    refused = [str(w.message) for w in caught if "TrailCheckpoint: not saving" in str(w.message)]
    return history, directory, refused, before_nan


def _wrapper(name):
    return lambda model: next(w for w in iter_wrappers(model) if w.name == name)


@pytest.mark.parametrize(
    "poison_at, variable_of, reason",
    [
        # The loss of batch 5 of epoch 3 is NaN: TerminateOnNaN stops the
        # epoch there, and Keras still calls on_epoch_end for it.
        ((2, 5, "begin"), lambda m: _wrapper("ltp_head")(m).layer.kernel, "loss is nan"),
        # The epoch's last step leaves NaN weights while its loss is still
        # finite: TerminateOnNaN sees nothing until the next epoch.
        ((2, STEPS_PER_EPOCH - 1, "end"), lambda m: _wrapper("ltp_hidden")(m).thresholds[0], "non-finite values"),
    ],
    ids=["nan-loss-mid-epoch", "nan-weights-at-epoch-end"],
)
def test_nan_stops_training_and_leaves_the_trail_sound(tmp_path, poison_at, variable_of, reason):
    history, directory, refused, before_nan = _poisoned_fit(tmp_path, poison_at, variable_of)
    epochs_run = len(history.history["loss"])
    assert epochs_run < 6  # TerminateOnNaN stopped training
    assert not np.isfinite(history.history["loss"][-1])
    assert refused and "epoch 3 to the trail" in refused[0] and reason in refused[0], refused
    entries = trail.read_index(directory)
    _strict_json(directory / "index.json")
    # The trail holds the epochs before the NaN, and its last checkpoint loads
    # and is sound.
    assert [e["epoch"] for e in entries] == [1, 2]
    assert sorted(os.listdir(directory)) == sorted([e["file"] for e in entries] + [trail.INDEX_NAME])
    assert {name: (directory / name).read_bytes() for name in os.listdir(directory)} == before_nan
    last = keras.saving.load_model(entries[-1]["path"], safe_mode=True)
    assert all(np.isfinite(keras.ops.convert_to_numpy(v.value)).all() for v in last.weights)
    assert keras_ltp.sparsity(last)["sparsity"] == entries[-1]["sparsity"] < 1.0
    x, _ = worker.data()
    assert np.isfinite(last.predict(x[:64], verbose=0)).all()


def test_sparsity_target_checks_follow_the_optimizer_step_count():
    """Checks happen when optimizer.iterations passes a multiple of
    check_every, once each, across fit() calls, and once at the end of fit."""
    steps = []

    class Recording(SparsityTarget):
        def _steer(self, step, **kwargs):
            if (id(self.model.optimizer), step) != self._steered:
                steps.append(step)
            super()._steer(step, **kwargs)

    model = worker.build()
    x, y = worker.data()
    target = Recording(0.5, check_every=3)
    # 4 steps per epoch, so checks do not line up with epochs.
    model.fit(x[:128], y[:128], batch_size=32, epochs=3, shuffle=False, verbose=0, callbacks=[target])
    assert steps == [3, 6, 9, 12]  # 12: end of fit
    model.fit(x[:128], y[:128], batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[target])
    assert steps == [3, 6, 9, 12, 15, 18, 20]  # 12 is not checked twice; 20: end of fit
