"""The mask math against numpy and finite differences."""

import keras
import numpy as np
import pytest
from conftest import gradients

from keras_ltp import masks


def sigm(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture
def weights():
    return np.random.default_rng(1).normal(0.0, 0.1, size=(7, 5)).astype("float64")


def test_hard_mask_keeps_exactly_weights_with_square_above_threshold(weights):
    tau = 0.004
    got = keras.ops.convert_to_numpy(masks.hard_mask(weights, tau))
    np.testing.assert_array_equal(got, (weights**2 > tau).astype("float32"))
    assert 0 < got.sum() < got.size


def test_a_weight_exactly_on_the_threshold_is_pruned():
    # keep iff w^2 > tau, strictly: exact zeros are pruned at tau = 0 (a
    # model re-pruned after strip() must count its zeros as pruned).
    w = np.array([0.0, -0.0, 0.5, -2.0, 0.0, 3.0], "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(masks.hard_mask(w, 0.0)), [0, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(masks.hard_mask(w, 0.25)), [0, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(masks.masked_weight(w, 0.25, None, False)), [0, 0, 0, -2.0, 0, 3.0]
    )


def test_soft_mask_and_l0_match_numpy(weights):
    tau, temp = 0.004, 0.002
    z = (weights**2 - tau) / temp
    np.testing.assert_allclose(keras.ops.convert_to_numpy(masks.soft_mask(weights, tau, temp)), sigm(z), rtol=1e-5)
    np.testing.assert_allclose(float(masks.soft_l0(weights, tau, temp)), sigm(z).sum(), rtol=1e-5)


def test_temperature_is_t0_times_variance_of_abs_weights(weights):
    np.testing.assert_allclose(float(masks.temperature(weights, 0.3)), 0.3 * np.var(np.abs(weights)), rtol=1e-5)


def test_threshold_is_theta_times_mean_square(weights):
    np.testing.assert_allclose(float(masks.threshold(weights, 2.5)), 2.5 * np.mean(weights**2), rtol=1e-5)


def test_masks_computed_in_float32_for_float16_weights():
    w = np.array([1e-4, 3e-4, -2e-4], dtype="float16")  # w^2 underflows in float16
    got = keras.ops.convert_to_numpy(masks.hard_mask(w, 2e-8))
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0])  # 1e-8, 9e-8, 4e-8 vs 2e-8
    assert keras.ops.convert_to_numpy(masks.soft_mask(w, 5e-8, 1e-9)).dtype == np.float32


def _masked_loss_numpy(w, tau, temp, c):
    return np.sum(c * w * sigm((w**2 - tau) / temp))


def test_gradients_follow_paper_eq14(weights):
    """d/dtau is the full derivative (finite differences); d/dw drops the
    2 w^2 / T * sigm'(z) term, i.e. equals c * sigm(z)."""
    rng = np.random.default_rng(2)
    c = rng.normal(size=weights.shape)
    tau0, temp = 0.004, 0.003
    w = keras.Variable(weights.astype("float32"))
    tau = keras.Variable(np.float32(tau0))

    def loss():
        return keras.ops.sum(keras.ops.multiply(c.astype("float32"), masks.masked_weight(w, tau, temp, training=True)))

    grad_w, grad_tau = gradients(loss, [w, tau])
    eps = 1e-7
    fd_tau = (_masked_loss_numpy(weights, tau0 + eps, temp, c) - _masked_loss_numpy(weights, tau0 - eps, temp, c)) / (
        2 * eps
    )
    np.testing.assert_allclose(grad_tau, fd_tau, rtol=2e-3)
    z = (weights**2 - tau0) / temp
    np.testing.assert_allclose(grad_w, c * sigm(z), rtol=1e-4, atol=1e-6)
    # The full derivative differs by the dropped term: check that it is really dropped.
    full = c * sigm(z) + c * (2 * weights**2 / temp) * sigm(z) * (1 - sigm(z))
    assert np.abs(grad_w - full).max() > 1e-2


def test_soft_l0_gradient_matches_finite_differences(weights):
    tau0, temp = 0.004, 0.003
    w = keras.Variable(weights.astype("float32"))
    tau = keras.Variable(np.float32(tau0))
    grad_w, grad_tau = gradients(lambda: masks.soft_l0(w, tau, temp), [w, tau])

    def l0(ww, t):
        return sigm((ww**2 - t) / temp).sum()

    eps = 1e-7
    np.testing.assert_allclose(grad_tau, (l0(weights, tau0 + eps) - l0(weights, tau0 - eps)) / (2 * eps), rtol=2e-3)
    fd_w = np.zeros_like(weights)
    for idx in np.ndindex(weights.shape):
        up, down = weights.copy(), weights.copy()
        up[idx] += 1e-6
        down[idx] -= 1e-6
        fd_w[idx] = (l0(up, tau0) - l0(down, tau0)) / 2e-6
    np.testing.assert_allclose(grad_w, fd_w, rtol=2e-3, atol=1e-3)


def test_soft_l0_is_scale_invariant(weights):
    """Scaling w by a and tau, T by a^2 leaves the soft L0 count unchanged (why
    LTP prunes networks with batch-norm, where L1/L2 would just shrink w)."""
    a = 7.0
    base = float(masks.soft_l0(weights, 0.004, 0.003))
    scaled = float(masks.soft_l0(a * weights, a**2 * 0.004, a**2 * 0.003))
    np.testing.assert_allclose(scaled, base, rtol=1e-5)

    # And with the learned (relative) threshold and eq. 15 temperature too.
    def count(w):
        return float(masks.soft_l0(w, masks.threshold(w, 1.3), masks.temperature(w, 0.05)))

    np.testing.assert_allclose(count(a * weights), count(weights), rtol=1e-4)


def test_fused_op_equals_autodiff_of_the_reference_functions(weights):
    """The fused op (one sigmoid, gradient written out) gives the values and
    gradients that autodiff gives for masked_weight * c + soft_l0 composed
    from threshold() and temperature()."""
    theta0, t0 = 1.3, 0.4
    c = np.random.default_rng(3).normal(size=weights.shape).astype("float32")
    w = keras.Variable(weights.astype("float32"))
    theta = keras.Variable(np.float32(theta0))

    def fused():
        v, count = masks.relative_soft_prune(w, theta, t0)
        return keras.ops.sum(keras.ops.multiply(c, v)) + 0.37 * count

    def reference():
        tau, temp = masks.threshold(w, theta), masks.temperature(w, t0)
        pruned = masks.masked_weight(w, tau, temp, training=True)
        return keras.ops.sum(keras.ops.multiply(c, pruned)) + 0.37 * masks.soft_l0(w, tau, temp)

    np.testing.assert_allclose(float(fused()), float(reference()), rtol=1e-5)
    for got, want in zip(gradients(fused, [w, theta]), gradients(reference, [w, theta])):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_relative_soft_prune_equals_composed_reference(weights):
    """The op the wrapper trains with: statistics of w taken inside, no gradient
    through them; theta gets d/dtau * mean(w^2) (checked against numpy)."""
    theta0, t0 = 1.3, 0.4
    rng = np.random.default_rng(5)
    c = rng.normal(size=weights.shape).astype("float32")
    w = keras.Variable(weights.astype("float32"))
    theta = keras.Variable(np.float32(theta0))

    def fused():
        v, count = masks.relative_soft_prune(w, theta, t0)
        return keras.ops.sum(keras.ops.multiply(c, v)) + 0.37 * count

    np_mean_sq = np.mean(weights**2)
    tau = theta0 * np_mean_sq
    temp = t0 * np.var(np.abs(weights))
    s = sigm((weights**2 - tau) / temp)
    np.testing.assert_allclose(float(fused()), np.sum(c * weights * s) + 0.37 * s.sum(), rtol=1e-4)
    grad_w, grad_theta = gradients(fused, [w, theta])
    np.testing.assert_allclose(grad_w, c * s + 0.37 * s * (1 - s) * 2 * weights / temp, rtol=1e-3, atol=1e-4)
    d_tau = -np.sum(s * (1 - s) * (c * weights + 0.37)) / temp
    np.testing.assert_allclose(grad_theta, d_tau * np_mean_sq, rtol=1e-3)

    # Finite difference in theta (the statistics of w do not depend on theta).
    def value(th):
        ss = sigm((weights**2 - th * np_mean_sq) / temp)
        return np.sum(c * weights * ss) + 0.37 * ss.sum()

    eps = 1e-4
    np.testing.assert_allclose(grad_theta, (value(theta0 + eps) - value(theta0 - eps)) / (2 * eps), rtol=2e-3)


def test_hard_forward_uses_hard_mask_with_soft_gradients(weights):
    """Straight-through: the value is w * step(w^2 - tau), the gradients are
    those of the soft mask (equal to the default op's)."""
    theta0, t0 = 1.3, 0.4
    c = np.random.default_rng(6).normal(size=weights.shape).astype("float32")
    w = keras.Variable(weights.astype("float32"))
    theta = keras.Variable(np.float32(theta0))

    def loss(hard_forward):
        v, count = masks.relative_soft_prune(w, theta, t0, hard_forward=hard_forward)
        return keras.ops.sum(keras.ops.multiply(c, v)) + 0.37 * count

    value, _ = masks.relative_soft_prune(w, theta, t0, hard_forward=True)
    keep = weights**2 > theta0 * np.mean(weights**2)
    assert 0 < keep.sum() < keep.size
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), weights * keep, rtol=1e-6)
    for hard, soft in zip(gradients(lambda: loss(True), [w, theta]), gradients(lambda: loss(False), [w, theta])):
        np.testing.assert_allclose(hard, soft, rtol=1e-5, atol=1e-7)
