"""Laws that hold for every input, checked on generated ones (hypothesis)."""

import keras
import numpy as np
from conftest import IN_SUBSUITE
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import keras_ltp
from keras_ltp import iter_wrappers, masks

# derandomize: the same examples every run, so the suite is deterministic in CI.
# The JAX/PyTorch rest runs (tests/test_backends.py, CI) check the same laws on a
# third of the examples: the TensorFlow run has the full count, and the laws do
# not depend on the backend beyond the ops they call.
_SHARE = 3 if IN_SUBSUITE else 1
FAST = settings(max_examples=60 // _SHARE, deadline=None, derandomize=True)
MODELS = settings(max_examples=8 // _SHARE, deadline=None, derandomize=True)

finite = st.floats(-4.0, 4.0, allow_nan=False, width=32)
weights = arrays("float32", st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=finite)
thresholds = st.floats(0.0, 4.0, allow_nan=False, width=32)


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@FAST
@given(weights, thresholds)
def test_hard_mask_is_exactly_the_strict_comparison(w, tau):
    mask = numpy(masks.hard_mask(w, tau))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_array_equal(mask, (w.astype("float32") ** 2 > np.float32(tau)).astype("float32"))
    np.testing.assert_array_equal(numpy(masks.masked_weight(w, tau, None, False)), w * mask)


@FAST
@given(weights, thresholds, st.floats(1e-3, 10.0))
def test_soft_mask_is_a_probability_that_grows_with_the_magnitude(w, tau, temp):
    soft = numpy(masks.soft_mask(w, tau, temp)).ravel()
    assert np.all((soft >= 0) & (soft <= 1))
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    assert np.all(np.diff(soft[order]) >= -1e-6)  # larger |w|, larger soft mask
    hard = numpy(masks.hard_mask(w, tau)).ravel()
    assert np.all(soft[hard == 1] >= 0.5 - 1e-6) and np.all(soft[hard == 0] <= 0.5 + 1e-6)


@FAST
@given(
    arrays("float32", st.integers(2, 40), elements=st.floats(-3.0, 3.0, allow_nan=False, width=32)).filter(
        lambda w: np.var(np.abs(w)) > 1e-3
    ),
    # 0, or thresholds far from float32 underflow (1e-38 * mean(w^2) flushes to 0)
    st.one_of(st.just(0.0), st.floats(1e-6, 3.0)),
    st.floats(0.05, 5.0),
    st.floats(0.1, 10.0),
)
def test_threshold_and_temperature_scale_with_the_weights(w, theta, t0, scale):
    """Scale w by a: tau and T scale by a^2, so both masks are unchanged."""
    tau, temp = numpy(masks.threshold(w, theta)), numpy(masks.temperature(w, t0))
    scaled = (w * np.float32(scale)).astype("float32")
    tau_s, temp_s = numpy(masks.threshold(scaled, theta)), numpy(masks.temperature(scaled, t0))
    np.testing.assert_allclose(tau_s, tau * scale**2, rtol=1e-4)
    np.testing.assert_allclose(temp_s, temp * scale**2, rtol=1e-4)
    np.testing.assert_allclose(
        numpy(masks.soft_mask(scaled, tau_s, temp_s)), numpy(masks.soft_mask(w, tau, temp)), atol=1e-4
    )


@MODELS
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=3),
    st.lists(st.floats(0.0, 2.0), min_size=4, max_size=4),
    st.sampled_from(["dense", "conv"]),
)
def test_strip_equals_the_hard_masked_model(widths, relative_thresholds, kind):
    layers = keras.layers
    if kind == "dense":
        stack = [keras.Input((5,))] + [layers.Dense(w, activation="tanh") for w in widths]
        x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    else:
        stack = [keras.Input((6, 6, 2))] + [layers.Conv2D(w, 3, padding="same", activation="tanh") for w in widths]
        x = np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype("float32")
    pruned = keras_ltp.prune(keras.Sequential(stack))
    for wrapper, relative in zip(iter_wrappers(pruned), relative_thresholds):
        wrapper.thresholds[0].assign(relative / wrapper.threshold_gain)
    stripped = keras_ltp.strip(pruned)
    np.testing.assert_allclose(numpy(stripped(x)), numpy(pruned(x, training=False)), rtol=1e-5, atol=1e-6)
    zeros = sum(int(np.sum(numpy(layer.kernel.value) == 0)) for layer in stripped.layers)
    report = keras_ltp.sparsity(pruned)
    assert zeros >= report["total"] - report["kept"]  # every pruned weight is a zero (a kept one may be 0 too)
