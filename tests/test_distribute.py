"""tf.distribute: MirroredStrategy, MultiWorkerMirroredStrategy, and XLA.

TensorFlow fixes its device list and cluster once per process, so the
distributed runs happen in fresh processes (tests/_distribute_worker.py) and
the tests compare what those write. The tests run in the default
`python -m pytest`: the file takes 36-45 s of wall time on a busy 2-core
machine (26 s of CPU). Every process has a timeout, so a collective that hangs
fails the test and does not block CI.
"""

import json
import os
import socket
import subprocess
import sys
import time
import warnings

import _distribute_worker as worker
import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.distribute needs the TensorFlow backend"
)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_distribute_worker.py")
TIMEOUT = 240  # seconds per process; a normal run takes 10-20 s

# Tolerances of the MirroredStrategy vs one-device comparison (see the test).
THRESHOLD_ATOL = 1e-6
WEIGHT_ATOL = 1e-5
PREDICTION_ATOL = 1e-5
LOSS_RTOL = 1e-5


def _env():
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    env.pop("TF_CONFIG", None)
    return env


def _tail(text, limit=3000):
    return text[-limit:] if text else ""


def _result(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, "the worker printed no RESULT line"
    return lines[-1][len("RESULT ") :]


@pytest.mark.slow
def test_mirrored_strategy_matches_one_device(tmp_path):
    """Two replicas (two logical CPUs) train what one device trains.

    Same initial weights, same global batch (32, i.e. 16 per replica), no
    shuffling, 24 Adam steps, with TemperatureScheduler and SparsityMonitor;
    then again with SparsityTarget, which assigns thresholds and lambda from
    a callback in the middle of training. Under MirroredStrategy each replica
    computes its loss on half the batch and the gradients are summed across
    replicas, so Keras divides every loss term by the number of replicas:
    the compiled loss (`reduce_values`) and the `add_loss` terms, our soft-L0
    regularizer included (`TensorFlowTrainer._aggregate_additional_loss`).
    The regularizer is computed from the (identical) weights on every replica,
    so after that division and the sum it counts exactly once.

    The agreement is not bit-exact: the per-replica halves are summed in a
    different order than one batch is, which changes the last bits of each
    gradient (float32), and Adam carries those differences along. Measured
    on this file's setup (Keras 3.15, TF 2.21, CPU): after 24 steps the
    largest differences are 1.5e-8 in a threshold (values 0.15-0.19), 2.7e-7
    in a weight, 4.8e-7 in a prediction and 1e-7 relative in the logged loss;
    after 200 steps 1.5e-7, 6.3e-7, 3.8e-6 and 1.2e-7. The tolerances below
    (thresholds 1e-6, weights and predictions 1e-5, loss 1e-5 relative) leave
    a wide margin while still catching a regularizer counted once per replica
    or divided by the replica count once too often: those runs (lambda doubled
    or halved) differ from the one-device run by 0.034 and 0.12 in a
    threshold, which the test checks too.

    The same holds with `prune(granularity="channel")`, which prunes the
    hidden layer's units whole.

    Hard sparsity must match exactly, with SparsityTarget too: it puts the
    thresholds halfway between the last weight pruned and the first kept
    (when it put one weight exactly on its threshold, the last float32 bit
    decided: 355 vs 356 of 640 pruned were measured then).
    """
    result = subprocess.run(
        [sys.executable, WORKER, "mirrored", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(),
    )
    assert result.returncode == 0, _tail(result.stderr) + _tail(result.stdout)
    runs = np.load(tmp_path / "mirrored.npz")

    def get(run, key):
        return runs[f"{run}/{key}"]

    for suffix in ("", "_target", "_channel"):
        mirrored, single = "mirrored" + suffix, "single" + suffix
        assert int(get(mirrored, "replicas")) == 2
        # Every variable (weights, thresholds, T0, lambda, optimizer state) is
        # mirrored, and the replicas' copies are identical.
        assert float(get(mirrored, "mirrored_fraction")) == 1.0
        assert float(get(mirrored, "replica_spread")) == 0.0
        np.testing.assert_allclose(get(mirrored, "thresholds"), get(single, "thresholds"), rtol=0, atol=THRESHOLD_ATOL)
        np.testing.assert_allclose(get(mirrored, "weights"), get(single, "weights"), rtol=0, atol=WEIGHT_ATOL)
        np.testing.assert_allclose(get(mirrored, "loss"), get(single, "loss"), rtol=LOSS_RTOL)
        np.testing.assert_allclose(get(mirrored, "l0_strength"), get(single, "l0_strength"), rtol=1e-6)
        assert float(get(single, "sparsity")) > 0.5

    assert float(get("mirrored", "sparsity")) == float(get("single", "sparsity"))
    np.testing.assert_allclose(
        get("mirrored", "predictions"), get("single", "predictions"), rtol=0, atol=PREDICTION_ATOL
    )
    assert float(get("mirrored_target", "sparsity")) == float(get("single_target", "sparsity"))
    np.testing.assert_allclose(
        get("mirrored_target", "predictions"), get("single_target", "predictions"), rtol=0, atol=PREDICTION_ATOL
    )
    # Channel granularity (prune(granularity="channel")): the same whole
    # hidden units pruned on both; the head is a model output and stays dense.
    assert float(get("mirrored_channel", "sparsity")) == float(get("single_channel", "sparsity"))
    np.testing.assert_allclose(
        get("mirrored_channel", "predictions"), get("single_channel", "predictions"), rtol=0, atol=PREDICTION_ATOL
    )
    # Only the hidden kernel is pruned, by whole units: a whole number of its 32.
    units_pruned = float(get("single_channel", "sparsity")) * worker.HIDDEN
    assert units_pruned == round(units_pruned) and 0 < units_pruned < worker.HIDDEN
    # SparsityTarget really steered: it lowered lambda from its start value.
    assert np.all(get("single_target", "l0_strength") < worker.OPTIONS["l0_strength"])

    # The tolerance separates a correct regularizer from a wrong replica scaling.
    for wrong in ("double_lambda", "half_lambda"):
        gap = np.max(np.abs(get(wrong, "thresholds") - get("single", "thresholds")))
        assert gap > 1000 * THRESHOLD_ATOL, (wrong, gap)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers(out_dir, log_dir, count=2):
    """Runs `count` workers to the end; returns [(returncode, stdout, stderr)].

    Their output goes to files (no pipe to fill up). A worker still running
    TIMEOUT seconds after the start, or 20 s after another worker failed
    (it would wait for that one in its next collective), is killed and gets
    a negative returncode (-9).
    """
    ports = ",".join(str(p) for p in _free_ports(count))
    logs = [(log_dir / f"worker{i}.out", log_dir / f"worker{i}.err") for i in range(count)]
    processes = []
    try:
        for i, (out_log, err_log) in enumerate(logs):
            with open(out_log, "w") as stdout, open(err_log, "w") as stderr:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, WORKER, "multiworker", str(out_dir), str(i), ports],
                        stdout=stdout,
                        stderr=stderr,
                        env=_env(),
                    )
                )
        deadline = time.monotonic() + TIMEOUT
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            if any(p.poll() not in (None, 0) for p in processes):
                deadline = min(deadline, time.monotonic() + 20)
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, out_log.read_text(), err_log.read_text()) for p, (out_log, err_log) in zip(processes, logs)]


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_trains_saves_and_exports(tmp_path):
    """Two workers on 127.0.0.1 (one CPU replica each) train a pruned model
    for 3 epochs with TemperatureScheduler, SparsityMonitor and
    TrailCheckpoint. The chief writes the trail, saves `model.keras` and
    exports a SavedModel with keras_ltp.export.saved_model; the other worker
    runs the same code into a scratch directory it deletes. The saved model loads with safe_mode=True
    and predicts what the chief's in-memory model predicted.

    Keras 3 (3.15) cannot `fit` any model under MultiWorkerMirroredStrategy
    as shipped; the worker applies `keras_ltp.distribute.fix_multiworker_reduce`
    only if the plain `fit` fails that way, and
    the test warns once Keras no longer needs it.
    """
    out = tmp_path / "chief"
    out.mkdir()
    outputs = _run_workers(out, tmp_path)
    for index, (returncode, stdout, stderr) in enumerate(outputs):
        assert returncode == 0, (
            f"worker {index} exited with {returncode} (-9: killed, it hung):\n{_tail(stderr)}{_tail(stdout)}"
        )
    results = [json.loads(_result(stdout)) for _, stdout, _ in outputs]
    chief, other = results
    assert chief["chief"] and not other["chief"]
    assert chief["replicas"] == other["replicas"] == 2

    # Synchronous training: both workers end with the same thresholds.
    np.testing.assert_array_equal(chief["thresholds"], other["thresholds"])
    assert chief["sparsity"] == other["sparsity"] > 0.0
    assert chief["logged_sparsity"][-1] == chief["sparsity"]  # SparsityMonitor ran
    assert all(np.isfinite(chief["loss"]))
    # Only the chief wrote where others read; the other worker's scratch is gone.
    assert chief["wrote"] == str(out)
    assert not os.path.exists(other["wrote"])

    import keras_ltp

    trail = keras_ltp.trail.read_index(str(out / "trail"))
    assert [entry["epoch"] for entry in trail] == list(range(1, worker.EPOCHS + 1))
    assert trail[-1]["sparsity"] == chief["sparsity"]

    x = np.load(out / "x.npy")
    expected = np.load(out / "predictions.npy")
    loaded = keras.saving.load_model(str(out / "model.keras"), safe_mode=True)
    # Same ops on the same CPU; a loose bound only for thread-count effects.
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    assert keras_ltp.sparsity(loaded)["sparsity"] == chief["sparsity"]

    import tensorflow as tf

    exported = tf.saved_model.load(str(out / "saved_model"))  # keep a reference while serving
    np.testing.assert_allclose(exported.serve(x).numpy(), expected, rtol=0, atol=1e-5)

    if not chief["keras_fix_needed"]:
        warnings.warn(
            "Keras now runs fit() under MultiWorkerMirroredStrategy without "
            "keras_ltp.distribute.fix_multiworker_reduce; deprecate it and update docs/distributed.md.",
            UserWarning,
            stacklevel=2,
        )


def test_xla_compiled_training_matches():
    """The training step compiles with XLA (`jit_compile=True`), which TPUs
    require and Keras turns off by itself under tf.distribute and on CPU-only
    machines, and learns what the uncompiled step learns (measured: 1.1e-8
    apart in a threshold after 24 steps)."""
    import keras_ltp

    x, y = worker.data()
    thresholds = {}
    for jit in (False, True):
        model = keras_ltp.prune(worker.dense_model(), **worker.OPTIONS)
        model.compile(
            keras.optimizers.Adam(worker.LEARNING_RATE),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        assert model.jit_compile is jit
        model.fit(
            x,
            y,
            batch_size=worker.GLOBAL_BATCH,
            epochs=worker.EPOCHS,
            shuffle=False,
            verbose=0,
            callbacks=worker.callbacks(),
        )
        thresholds[jit] = np.array(worker.thresholds_of(model))
    np.testing.assert_allclose(thresholds[True], thresholds[False], rtol=0, atol=THRESHOLD_ATOL)


def test_prune_outside_the_strategy_scope_warns():
    import tensorflow as tf

    import keras_ltp

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.warns(UserWarning, match="inside `with strategy.scope"):
        keras_ltp.prune(dense)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with strategy.scope():
            pruned = keras_ltp.prune(dense)
        keras_ltp.prune(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]))
    assert isinstance(pruned.layers[0].thresholds[0].value, tf.distribute.DistributedValues)
