"""The prune -> fit -> strip -> save -> SavedModel route that the KerasHub and
keras.applications sweeps take each model through (tests/test_keras_hub.py,
tests/test_applications.py), one stage at a time, recording each failure;
and the channel route, prune(granularity="channel") -> shrink -> save."""

import os
import warnings

import keras
import numpy as np
from keras import ops

import keras_ltp

STAGES = ("prune", "fit", "strip", "save_pruned", "save_stripped", "saved_model", "tflite", "shrink")


def float_outputs(outputs):
    """The float tensors of a model's (nested) outputs, as numpy arrays."""
    return [ops.convert_to_numpy(t) for t in keras.tree.flatten(outputs) if "float" in str(t.dtype)]


def assert_same_outputs(actual, expected, what):
    actual, expected = float_outputs(actual), float_outputs(expected)
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, atol=1e-4, rtol=1e-3, err_msg=what)


def _scalar_model(model):
    """`model`'s inputs to one float per example: the mean square of its
    float outputs that have a batch axis."""
    outputs = [
        t for t in keras.tree.flatten(model.outputs) if "float" in str(t.dtype) and len(t.shape) and t.shape[0] is None
    ]
    terms = [ops.mean(ops.square(t), axis=tuple(range(1, len(t.shape)))) for t in outputs]
    return keras.Model(model.inputs, sum(terms[1:], terms[0]))


def run_stages(model, inputs, tmp_path, train=True, tflite=True):
    """Takes `model` through every stage in `STAGES`; with `train=False` the
    "fit" stage sets every threshold to prune instead of training; with
    `tflite=False` the `.tflite` stage is left out (recorded as skipped).

    Returns:
        `(results, pruned, stripped)`: `results` maps each stage reached to
        "ok" or the error it raised (`"ErrorType: message"`).
    """
    results, pruned, stripped = {}, None, None
    expected = model(inputs)

    def stage(name, fn):
        try:
            value = fn()
        except Exception as error:  # noqa: BLE001 - recorded, compared with the known failures
            results[name] = f"{type(error).__name__}: {error}"
            return None
        results[name] = value if isinstance(value, str) and value.startswith("skipped") else "ok"
        return value

    def prune():
        copy = keras_ltp.prune(model, l0_strength=5.0)
        # A copy: nothing shared with the given model, same outputs.
        assert not {id(v) for v in model.weights} & {id(v) for v in copy.weights}
        assert_same_outputs(copy(inputs), expected, "pruned copy before training")
        return copy

    pruned = stage("prune", prune)
    if pruned is None:
        return results, None, None

    def set_thresholds():
        for wrapper in keras_ltp.iter_wrappers(pruned):
            for theta in wrapper.thresholds:
                theta.assign(0.02)
        assert keras_ltp.sparsity(pruned)["sparsity"] > 0.0

    def fit():
        before = [ops.convert_to_numpy(w.thresholds[0].value) for w in keras_ltp.iter_wrappers(pruned)]
        head = _scalar_model(pruned)
        head.compile(keras.optimizers.Adam(0.05), "mse", run_eagerly=True)
        head.fit(inputs, np.zeros((2,), "float32"), epochs=3, batch_size=2, verbose=0)
        after = [ops.convert_to_numpy(w.thresholds[0].value) for w in keras_ltp.iter_wrappers(pruned)]
        assert any(a != b for a, b in zip(after, before)), "no threshold moved"
        assert keras_ltp.sparsity(pruned)["sparsity"] > 0.0

    stage("fit", fit if train else set_thresholds)

    def strip():
        plain = keras_ltp.strip(pruned)
        assert not list(keras_ltp.iter_wrappers(plain))
        assert_same_outputs(plain(inputs), pruned(inputs), "stripped vs pruned inference")
        return plain

    stripped = stage("strip", strip)
    for name, saved in (("save_pruned", pruned), ("save_stripped", stripped)):
        if saved is None:
            continue

        def save(saved=saved, name=name):
            path = os.path.join(tmp_path, f"{name}.keras")
            saved.save(path)
            loaded = keras.saving.load_model(path, safe_mode=True)
            assert_same_outputs(loaded(inputs), saved(inputs), f"{name} reloaded")

        stage(name, save)
    if keras.backend.backend() != "tensorflow":
        results["saved_model"] = results["tflite"] = "skipped: exports need the TensorFlow backend"
    elif stripped is not None:
        stage("saved_model", lambda: keras_ltp.export.saved_model(stripped, os.path.join(tmp_path, "saved_model")))
        if tflite:
            stage("tflite", lambda: _tflite_agrees(model, stripped, inputs))
        else:
            results["tflite"] = "skipped: not asked for"
    else:
        results["tflite"] = "not reached"
    stage("shrink", lambda: _shrinks(model, inputs, expected, tmp_path))
    return results, pruned, stripped


def _shrinks(model, inputs, expected, tmp_path):
    """prune(granularity="channel"), with each channel wrapper's threshold
    set to prune about 40% of its channels (the lowest saliencies), then
    shrink(): the same outputs as the pruned model's inference, fewer
    parameters where a layer prunes channels, and a `.keras` round trip in
    safe mode. The per-weight fallbacks (blocks whose channels cannot be
    removed from outside, such as a transformer block) stay dense here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback report; checked in tests/test_channels.py
        pruned = keras_ltp.prune(model, granularity="channel")
    assert_same_outputs(pruned(inputs), expected, "channel-pruned copy before pruning")
    channel = [w for w in keras_ltp.iter_wrappers(pruned) if w.granularity == "channel"]
    for wrapper in channel:
        saliency = np.sort(ops.convert_to_numpy(wrapper.channel_saliency()))
        wrapper.thresholds[0].assign(float(saliency[int(0.4 * len(saliency))]) / wrapper.threshold_gain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "removed nothing" where no layer prunes channels
        shrunk, report = keras_ltp.shrink(pruned, return_report=True)
    assert not list(keras_ltp.iter_wrappers(shrunk))
    assert_same_outputs(shrunk(inputs), pruned(inputs), "shrunk vs channel-pruned inference")
    if channel:
        assert report.removed > 0 and shrunk.count_params() < model.count_params(), "shrink() removed nothing"
    path = os.path.join(tmp_path, "shrunk.keras")
    shrunk.save(path)
    assert_same_outputs(keras.saving.load_model(path, safe_mode=True)(inputs), shrunk(inputs), "shrunk reloaded")
    return "ok"


def _tflite_agrees(model, stripped, inputs):
    """The stripped model's float `.tflite`, run in LiteRT with its default
    options, agrees with it; "skipped: ..." where the converter rejects the
    unpruned model too (the converter's limit, not ours)."""
    try:
        content = keras_ltp.export.tflite_bytes(stripped)
    except Exception as error:  # noqa: BLE001 - compared with the unpruned model's conversion
        try:
            keras_ltp.export.tflite_bytes(model)
        except Exception:  # noqa: BLE001
            return f"skipped: the converter rejects the unpruned model too ({type(error).__name__})"
        raise
    got = keras_ltp.export.run_tflite(content, inputs)
    candidates = [e for e in float_outputs(stripped(inputs)) if e.shape == got.shape]
    if candidates and all(not np.all(np.isfinite(e)) or np.max(np.abs(e)) > 1e30 for e in candidates):
        return "skipped: the trained model's outputs overflow float32 (nothing to compare)"
    # Float32 kernels sum in another order: within 1e-4 of the output's own scale.
    assert any(np.max(np.abs(got - e)) <= 1e-4 * max(1.0, float(np.max(np.abs(e)))) for e in candidates), (
        "the .tflite output differs"
    )
    return "ok"


def check_against_known(family, results, known):
    """Fails unless every stage is "ok" or fails as `known` (`{stage: text
    in the error}`) says; a known failure that now passes fails too, so the
    table stays true."""
    problems, known_failure_before = [], False
    for stage_name in STAGES:
        outcome = results.get(stage_name, "not reached")
        expected = known.get(stage_name)
        if outcome.startswith("skipped") or (outcome == "not reached" and known_failure_before):
            continue
        known_failure_before |= expected is not None
        if expected is None and outcome != "ok":
            problems.append(f"{stage_name}: {outcome[:600]}")
        elif expected is not None and (outcome == "ok" or expected not in outcome):
            problems.append(f"{stage_name}: expected a known failure containing {expected!r}, got {outcome[:300]!r}")
    assert not problems, f"{family}:\n" + "\n".join(problems)
