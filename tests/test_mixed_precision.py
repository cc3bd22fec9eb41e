"""Training under the mixed_float16 and mixed_bfloat16 dtype policies.

The reference is the same model, data and seed trained in float32: the
thresholds must learn the same per-layer sparsity within a few points.
"""

import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import iter_wrappers

L = keras.layers


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 16)).astype("float32")
    y = (x[:, :4].sum(1) > 0).astype("int32") + 2 * (x[:, 4:8].sum(1) > 0).astype("int32")
    return x, y


def _mlp(width):
    return keras.Sequential(
        [
            keras.Input((16,)),
            L.Dense(width, activation="relu", name="hidden1"),
            L.Dense(width, activation="relu", name="hidden2"),
            L.Dense(4, dtype="float32", name="logits"),
        ]
    )


def _train(policy):
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = _mlp(64)
    pruned = keras_ltp.prune(model, l0_strength=1.0, threshold_gain=30.0)
    pruned.compile(
        keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    x, y = _data()
    history = pruned.fit(x, y, epochs=6, batch_size=64, shuffle=False, verbose=0)
    report = keras_ltp.sparsity(pruned)
    accuracy = float(pruned.evaluate(x, y, verbose=0)[1])
    keras.config.set_dtype_policy("float32")
    return pruned, history, report, accuracy


@pytest.fixture(scope="module")
def float32_run():
    _, _, report, accuracy = _train("float32")
    return report, accuracy


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_learns_like_float32(policy, float32_run):
    reference, reference_accuracy = float32_run
    pruned, history, report, accuracy = _train(policy)

    wrappers = list(iter_wrappers(pruned))
    assert wrappers[0].layer.compute_dtype == policy.split("_")[1]
    for wrapper in wrappers:
        assert all(keras.backend.standardize_dtype(t.dtype) == "float32" for t in wrapper.thresholds)
        assert keras.backend.standardize_dtype(wrapper.temperature.dtype) == "float32"
        assert keras.backend.standardize_dtype(wrapper.layer.kernel.dtype) == "float32"
    if policy == "mixed_float16":
        # Keras wraps the optimizer for dynamic loss scaling; the scale must stay finite.
        assert isinstance(pruned.optimizer, keras.optimizers.LossScaleOptimizer)
        scale = float(keras.ops.convert_to_numpy(pruned.optimizer.dynamic_scale))
        assert np.isfinite(scale) and scale >= 1.0
    assert np.all(np.isfinite(history.history["loss"]))

    # The float32 run prunes ~83% at ~91% accuracy (measured); the mixed runs
    # learned the same per-layer sparsity (measured: within 0.3 points).
    assert reference["sparsity"] > 0.7 and reference_accuracy > 0.85
    assert abs(report["sparsity"] - reference["sparsity"]) < 0.02, (report["sparsity"], reference["sparsity"])
    for name, layer in reference["layers"].items():
        assert abs(report["layers"][name]["sparsity"] - layer["sparsity"]) < 0.03, name
    assert accuracy > reference_accuracy - 0.03, (accuracy, reference_accuracy)


@pytest.mark.left_to_rest_run(
    reason="slow on JAX (12 s); CI's --slow step runs it on JAX, and this run trains per-weight pruning "
    "under both mixed policies",
)
def test_channel_pruning_under_mixed_float16_reaches_a_cost_target_and_shrinks_exactly():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        pruned = keras_ltp.prune(_mlp(32), granularity="channel", cost="flops")
        pruned.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x, y = _data()
        target = keras_ltp.callbacks.SparsityTarget(0.5, check_every=2, measure="cost")
        history = pruned.fit(x, y, epochs=6, batch_size=64, shuffle=False, verbose=0, callbacks=[target])
        assert np.all(np.isfinite(history.history["loss"]))
        hidden = [pruned.get_layer(f"ltp_hidden{i}") for i in (1, 2)]
        assert all(keras.backend.standardize_dtype(w.thresholds[0].dtype) == "float32" for w in hidden)
        # Counted by hand on the masks: a hidden1 unit has 16 weights, a
        # hidden2 unit one per kept hidden1 unit, a logits weight 1 (1,664 in
        # all): what the shrunk model keeps.
        pruned_units = [int((1 - keras.ops.convert_to_numpy(w.channel_mask())).sum()) for w in hidden]
        kept1, kept2 = 32 - pruned_units[0], 32 - pruned_units[1]
        logits_kept = int(keras.ops.convert_to_numpy(pruned.get_layer("ltp_logits").hard_masks()[0]).sum())
        removed = 1 - (16 * kept1 + kept1 * kept2 + logits_kept) / 1664
        assert removed == pytest.approx(0.5, abs=0.03)
        shrunk = keras_ltp.shrink(pruned)
        assert [shrunk.get_layer(f"hidden{i}").units for i in (1, 2)] == [32 - n for n in pruned_units]
        expected = keras.ops.convert_to_numpy(pruned(x[:64], training=False))
        got = keras.ops.convert_to_numpy(shrunk(x[:64], training=False))
        np.testing.assert_allclose(got, expected, atol=2e-2 * max(1.0, np.abs(expected).max()))
    finally:
        keras.config.set_dtype_policy("float32")


class _AutocastingBlock(keras.layers.Layer):
    """A mixed_float16 layer whose call (an autocast scope) calls a wrapped Dense."""

    def __init__(self, **kwargs):
        super().__init__(dtype="mixed_float16", **kwargs)
        self.inner = keras_ltp.PrunableWrapper(keras.layers.Dense(3, use_bias=False, dtype="mixed_float16"))

    def call(self, x):
        return self.inner(x)


def test_a_wrapper_inside_an_autocasting_layer_masks_with_float32_thresholds():
    # tau = mean(w^2) ~ 2.3e-8 is 0 in float16: a threshold read through the
    # outer layer's autocast scope would keep every weight.
    block = _AutocastingBlock()
    x = np.ones((1, 4), "float32")
    block(x)
    kernel = np.full((4, 3), 1e-4, "float32")
    kernel[0] = 3e-4
    block.inner.layer.kernel.assign(kernel)
    block.inner.thresholds[0].assign(1.0 / block.inner.threshold_gain)
    outputs = keras.ops.convert_to_numpy(block(x)).astype("float32")
    np.testing.assert_allclose(outputs, np.full((1, 3), 3e-4), rtol=1e-2)  # only the first row is kept
