"""The math of Learned Threshold Pruning, written with `keras.ops` only.

Notation (see Azarian et al., "Learned Threshold Pruning", arXiv 2003.00075):
`w` a weight tensor, `tau` its learned threshold, `T` its temperature and

    z = (w^2 - tau) / T.

* Hard mask (what is exported):   m = step(w^2 - tau), i.e. keep w iff w^2 > tau.
* Soft mask (what is trained):    m = sigm(z).
* Soft L0 (differentiable count): L0 = sum_k sigm(z_k).
* Temperature (paper eq. 15):     T = T0 * Var(|w|).

Thresholds are learned in units of the layer's mean squared weight:
`tau = theta * mean(w^2)` with `theta` the trainable scalar. This keeps the
threshold scale-free (scale `w` by `a` and `tau`, `T` follow with `a^2`), so a
single learning rate suits every layer, whatever its weight scale.

All functions compute in float32, whatever the dtype of `w`: `w^2` of a
float16 weight underflows and `1/T` can reach 1e4.
"""

from keras import ops


def _f32(x):
    return ops.cast(x, "float32")


def threshold_scale(w):
    """Returns `mean(w^2)`, the unit of a learned threshold (no gradient).

    Args:
        w: weight tensor.

    Returns:
        A float32 scalar, at least 1e-30 so a zero tensor stays well defined.
    """
    w = ops.stop_gradient(_f32(w))
    return ops.maximum(ops.mean(ops.square(w)), 1e-30)


def threshold(w, theta):
    """Absolute threshold `tau = theta * mean(w^2)` (gradient to `theta` only).

    Args:
        w: weight tensor.
        theta: scalar, the learned threshold in units of `mean(w^2)`.

    Returns:
        float32 scalar `tau`.
    """
    return _f32(theta) * threshold_scale(w)


def temperature(w, t0):
    """Paper eq. 15: `T = T0 * Var(|w|)` (no gradient).

    Args:
        w: weight tensor.
        t0: scalar, the relative temperature `T0`.

    Returns:
        float32 scalar, at least 1e-30.

    Example:
    >>> import numpy as np
    >>> float(temperature(np.array([1.0, -3.0]), 0.5))  # Var(|w|) = 1
    0.5
    """
    w = ops.stop_gradient(_f32(w))
    return ops.maximum(_f32(t0) * ops.var(ops.abs(w)), 1e-30)


def hard_mask(w, tau):
    """`step(w^2 - tau)` as float32: 1 where the weight is kept.

    Args:
        w: weight tensor.
        tau: scalar threshold.

    Returns:
        float32 tensor shaped like `w`.
    """
    return _f32(ops.greater(ops.square(_f32(w)), _f32(tau)))


def soft_mask(w, tau, temp):
    """Soft mask `sigm((w^2 - tau) / T)` with the gradient fix of paper eq. 14.

    `w^2` enters through `stop_gradient`, so `d(w * mask)/dw = mask` (the
    `2 w^2 / T * sigm'(z)` term that stalls pruning is dropped), while
    `d(w * mask)/dtau = -(w / T) * sigm'(z)` is kept in full.

    Args:
        w: weight tensor.
        tau: scalar threshold (carries the gradient).
        temp: scalar temperature `T > 0`.

    Returns:
        float32 tensor shaped like `w`.
    """
    w2 = ops.stop_gradient(ops.square(_f32(w)))
    return ops.sigmoid((w2 - _f32(tau)) / _f32(temp))


def soft_l0(w, tau, temp):
    """Soft L0 norm `sum_k sigm((w_k^2 - tau) / T)`, the differentiable count
    of kept weights (paper eq. 6).

    Its gradient reaches `tau` and, in the transitional region, `w` (pushing
    weights just above the threshold towards it).

    Args:
        w: weight tensor.
        tau: scalar threshold.
        temp: scalar temperature.

    Returns:
        float32 scalar.
    """
    z = (ops.square(_f32(w)) - _f32(tau)) / _f32(temp)
    return ops.sum(ops.sigmoid(z))


def masked_weight(w, tau, temp, training):
    """The weight a pruned layer computes with: `w * mask`, float32.

    Args:
        w: weight tensor.
        tau: scalar threshold.
        temp: scalar temperature (unused when `training` is false).
        training: Python bool; soft mask if true, hard mask otherwise.

    Returns:
        float32 tensor shaped like `w`.
    """
    mask = soft_mask(w, tau, temp) if training else hard_mask(w, tau)
    return _f32(w) * mask
