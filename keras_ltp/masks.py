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

Channel (structured) pruning is the same rule on groups: each output channel
`c` has one saliency, its relative mean square `s_c` (`channel_saliency`),
and with `tau` and `T` taken from the `s_c` as above (`mean(s) = 1`),

    mask_c = sigm((s_c - tau) / T)  (training),  s_c > tau  (inference),

broadcast over every weight of the channel (`relative_channel_prune`).

Bounds on a layer's sparsity (`min_sparsity <= sparsity <= max_sparsity`)
clamp its threshold into `[lo, hi]` (`sparsity_bounds`): with the `n` scores
sorted, `s_(1) <= ... <= s_(n)`, at most `floor(max_sparsity * n)` and at
least `ceil(min_sparsity * n)` of them lie at or under it. A clamped
threshold has no gradient (the L0 term stops pressing on it).

All functions compute in float32, whatever the dtype of `w`: `w^2` of a
float16 weight underflows and `1/T` can reach 1e4.
"""

import math

import keras
from keras import ops

__all__ = [
    "broadcast_channels",
    "channel_saliency",
    "channel_temperature",
    "hard_mask",
    "in_transition",
    "masked_weight",
    "moments",
    "relative_channel_prune",
    "relative_soft_prune",
    "soft_l0",
    "soft_mask",
    "sparsity_bounds",
    "temperature",
    "threshold",
]


def _f32(x):
    return ops.cast(x, "float32")


def moments(w):
    """Returns `(mean(w^2), mean(|w|))` as float32 scalars, without gradient.

    Both statistics that scale the threshold and the temperature come from
    these two reductions, computed once per weight tensor and step.
    """
    w = ops.stop_gradient(_f32(w))
    return ops.mean(ops.square(w)), ops.mean(ops.abs(w))


def threshold(w, theta, stats=None):
    """Absolute threshold `tau = theta * mean(w^2)` (gradient to `theta` only).

    Args:
        w: weight tensor.
        theta: scalar, the learned threshold in units of `mean(w^2)`.
        stats: optional `moments(w)`, to avoid recomputing them.

    Returns:
        float32 scalar `tau` (`mean(w^2)` is floored at 1e-30).
    """
    if stats is not None:
        mean_sq = stats[0]
    else:
        mean_sq = ops.mean(ops.square(ops.stop_gradient(_f32(w))))
    return _f32(theta) * ops.maximum(mean_sq, 1e-30)


def temperature(w, t0, stats=None):
    """Paper eq. 15: `T = T0 * Var(|w|)` (no gradient), with
    `Var(|w|) = mean(w^2) - mean(|w|)^2`.

    Args:
        w: weight tensor.
        t0: scalar, the relative temperature `T0`.
        stats: optional `moments(w)`, to avoid recomputing them.

    Returns:
        float32 scalar, at least 1e-30.

    Example:
    >>> import numpy as np
    >>> float(temperature(np.array([1.0, -3.0]), 0.5))  # Var(|w|) = 1
    0.5
    """
    mean_sq, mean_abs = stats if stats is not None else moments(w)
    variance = ops.maximum(mean_sq - ops.square(mean_abs), 0.0)
    return ops.maximum(_f32(t0) * variance, 1e-30)


def sparsity_bounds(score, min_sparsity, max_sparsity):
    """The thresholds `(lo, hi)` between which a threshold `tau` prunes
    (`score <= tau`) between `min_sparsity` and `max_sparsity` of the scores.

    With `k = floor(max_sparsity * n)`, `hi` lies halfway between `s_(k+1)`
    and the largest score below it, so at most `k` scores are pruned under
    it, fewer where scores tie across the bound (below it: `-1` when
    `s_(k+1) = 0`, since a zero is pruned under any `tau >= 0`). With
    `k = ceil(min_sparsity * n)`, `lo` lies halfway between `s_(k)` and the
    smallest score above it (at `s_(n)` when none is), so at least `k` are
    pruned. A bound that does not bind (`k = n`, `k = 0`) is `+inf` /
    `-inf`. No gradient.

    Args:
        score: tensor of scores (`w^2`, or channel saliencies), any shape.
        min_sparsity, max_sparsity: Python floats, `0 <= min <= max <= 1`.

    Returns:
        float32 scalars `(lo, hi)`, in the units of `score`.

    Example:
    >>> import numpy as np
    >>> lo, hi = sparsity_bounds(np.array([1.0, 4.0, 9.0, 16.0]), 0.25, 0.5)
    >>> float(lo), float(hi)  # at least 1 pruned, at most 2
    (2.5, 6.5)
    """
    s = ops.reshape(ops.stop_gradient(_f32(score)), (-1,))
    n = s.shape[0]
    most = math.floor(max_sparsity * n + 1e-9)
    least = math.ceil(min_sparsity * n - 1e-9)
    hi = ops.convert_to_tensor(math.inf, "float32")
    lo = ops.convert_to_tensor(-math.inf, "float32")
    if most < n:
        pivot = _kth_smallest(s, most)
        below = ops.max(ops.where(s < pivot, s, -pivot))
        hi = ops.where(pivot > 0, 0.5 * (below + pivot), -1.0)
    if least > 0:
        pivot = _kth_smallest(s, least - 1)
        above = ops.min(ops.where(s > pivot, s, ops.max(s)))
        lo = 0.5 * (pivot + above)
    return lo, hi


def _kth_smallest(s, k):
    """The `k`-th smallest (0-based) of the non-negative float32 vector `s`,
    exactly, by radix selection on the bits (non-negative floats order as
    their int32 bit patterns): four passes of a 256-bin histogram, where a
    sort would cost `n log n` (TensorFlow's CPU sort is ~50x numpy's).

    Example:
    >>> import numpy as np
    >>> float(_kth_smallest(np.array([9.0, 0.0, 4.0, 1e-30], "float32"), 2))
    4.0
    """
    bits = ops.view(s, "int32")
    prefix = ops.convert_to_tensor(0, "int32")
    rank = ops.convert_to_tensor(k, "int32")
    for shift in (24, 16, 8, 0):
        digit = ops.bitwise_and(ops.right_shift(bits, shift), 255)
        if shift == 24:
            counted = ops.ones_like(bits)
        else:  # only the entries whose higher digits are the prefix found so far
            counted = ops.cast(ops.equal(ops.right_shift(bits, shift + 8), ops.right_shift(prefix, shift + 8)), "int32")
        histogram = ops.segment_sum(counted, digit, num_segments=256)
        below = ops.cumsum(histogram) <= rank  # bins wholly below the k-th entry
        rank = rank - ops.sum(ops.where(below, histogram, 0))
        prefix = prefix + ops.left_shift(ops.sum(ops.cast(below, "int32")), shift)
    return ops.view(prefix, "float32")


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


def in_transition(score, tau, temp, band=0.05):
    """1 where the soft mask `sigm((score - tau) / T)` is still undecided,
    inside `(band, 1 - band)`, i.e. `|score - tau| < T * log((1 - band) / band)`;
    0 where it is within `band` of 0 or 1.

    Weights in this band move the L0 term and the threshold's gradient;
    when the fraction in it falls to zero while training still changes the
    loss, the masks have frozen (the temperature fell, or the threshold
    moved, faster than the weights could follow).

    Args:
        score: what the threshold is compared with (`w^2`, or channel
            saliencies).
        tau: scalar threshold.
        temp: scalar temperature `T > 0`.
        band: in `(0, 0.5)`; the mask values within it of 0 or 1 count as
            decided.

    Returns:
        float32 0/1 tensor shaped like `score`.

    Example:
    >>> import numpy as np
    >>> [float(v) for v in in_transition(np.array([0.0, 0.9, 1.1, 2.0]), 1.0, 0.1)]
    [0.0, 1.0, 1.0, 0.0]
    """
    if not 0.0 < band < 0.5:
        raise ValueError(f"band must be in (0, 0.5), got {band!r}.")
    width = _f32(temp) * math.log((1.0 - band) / band)
    return _f32(ops.less(ops.abs(_f32(score) - _f32(tau)), width))


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


def _after(x, dependency):
    """`x`, made to wait for `dependency` (adds a zero computed from it).

    TensorFlow runs an op as soon as its inputs exist, so gradient ops that
    read only forward values (the mask, `w`) would run right after the forward
    pass and hold weight-sized buffers until their layer's backward step
    (measured on ResNet50: four weight-sized buffers per pruned tensor alive
    at the peak). `a > a` is 0 even for NaN, and Grappler does not fold it
    away (it folds `zeros_like(a)` and `a * 0`).
    """
    first = ops.reshape(dependency, (-1,))[0]
    return x + ops.cast(ops.greater(first, first), x.dtype)


def _mask_gradient(upstream, w, mask, inv_temp):
    """`(d/dw, d/dtau)` of `(w * mask, sum(mask))`, `mask = sigm(z)`, given the
    output cotangents `(g_v, g_l0)`: paper eq. 14 for the masked weight, the
    full derivative for the L0 count,

        d/dw   = g_v * sigm(z) + g_l0 * 2 w sigm'(z) / T
        d/dtau = -sum_k sigm'(z_k) (g_v,k w_k + g_l0) / T

    the gradients of `masked_weight(w, tau, T, True)` and `soft_l0(w, tau, T)`
    written out, which about halves the operations per pruned tensor."""
    if len(upstream) == 1:  # JAX hands the output cotangents as one tuple
        upstream = upstream[0]
    d_pruned, d_count = upstream
    # Every weight-sized op starts from d_pruned (or waits for it), so none
    # runs before this layer's backward step.
    reg = w * _after(2.0 * d_count * inv_temp, d_pruned)
    reg = reg * mask
    reg = reg - reg * mask  # 2 g_l0 w sigm'(z) / T
    d_w = d_pruned * mask + reg
    q = (d_pruned * w + d_count) * mask
    q = q - q * mask  # sigm'(z) (g_v w + g_l0)
    return d_w, -inv_temp * ops.sum(q)


def _relative_soft_prune_op(hard_forward):
    @ops.custom_gradient
    def op(w, theta, t0):
        square = ops.square(w)
        stats = (ops.mean(square), ops.mean(ops.abs(w)))  # moments(w), sharing w^2
        tau = threshold(w, theta, stats)
        inv_temp = 1.0 / temperature(w, t0, stats)
        mask = ops.sigmoid((square - tau) * inv_temp)
        forward_mask = ops.cast(ops.greater(square, tau), w.dtype) if hard_forward else mask

        def grad(*upstream, **_):
            d_w, d_tau = _mask_gradient(upstream, w, mask, inv_temp)
            # tau = theta * max(mean(w^2), 1e-30), the statistic without gradient.
            return d_w, d_tau * ops.maximum(stats[0], 1e-30), ops.zeros_like(t0)

        return (w * forward_mask, ops.sum(mask)), grad

    return op


_RELATIVE_SOFT_PRUNE = {False: _relative_soft_prune_op(False), True: _relative_soft_prune_op(True)}


def relative_soft_prune(w, theta, t0, hard_forward=False):
    """`(w * soft_mask(w, tau, T), soft_l0(w, tau, T))` with its threshold and
    temperature taken from `w` itself: `tau = theta * mean(w^2)` and
    `T = t0 * Var(|w|)` (paper eq. 15), all in one fused operation with one
    sigmoid and the gradient written out (`_mask_gradient`), so `w^2` is
    computed once per step. This is what `PrunableWrapper` trains with.

    Same values and gradients as `masked_weight(w, tau, T, True)` and
    `soft_l0(w, tau, T)` composed by autodiff with `tau = threshold(w, theta)`
    and `T = temperature(w, t0)`: the statistics of `w` carry no gradient,
    `theta` gets `d/dtau * mean(w^2)` and `t0` none. On the torch backend,
    whose `keras.ops.custom_gradient` takes a single output, that composition
    is what runs.

    With `hard_forward=True` the masked weight is `w * step(w^2 - tau)` (the
    hard mask) while every gradient stays that of the soft mask (a
    straight-through estimator): the layers after it, batch-norm statistics
    included, train on exactly what inference computes.

    Args:
        w: weight tensor.
        theta: scalar relative threshold.
        t0: scalar relative temperature `T0 > 0`.
        hard_forward: Python bool, see above.

    Returns:
        `(masked float32 weight, float32 soft-L0 scalar)`.
    """
    if keras.backend.backend() == "torch":
        stats = moments(w)
        tau = threshold(w, theta, stats)
        temp = ops.stop_gradient(temperature(w, t0, stats))
        pruned, count = masked_weight(w, tau, temp, True), soft_l0(w, tau, temp)
        if hard_forward:
            pruned = pruned + ops.stop_gradient(masked_weight(w, tau, None, False) - pruned)
        return pruned, count
    return _RELATIVE_SOFT_PRUNE[bool(hard_forward)](_f32(w), _f32(theta), ops.stop_gradient(_f32(t0)))


def channel_saliency(weights_and_axes):
    """One saliency per output channel: `s_c = mean_v q_vc / mean(w_v^2)`,
    with `q_vc` the mean of `w_v^2` over the weights of channel `c` in tensor
    `w_v` (all axes but `axis_v`, and every block of a tiled axis). The
    normalisation (without gradient) makes `mean_c s_c = 1`: `s` is
    scale-free like the relative threshold.

    Args:
        weights_and_axes: list of `(w, axis)` or `(w, axis, tiles)`, the
            tensors that score the channels and the axis of each that indexes
            them: `tiles` blocks of the `C` channels one after the other
            (the gates of a recurrent kernel: index `g * C + c`), 1 if omitted.

    Returns:
        float32 tensor of shape `(C,)`, with gradient to every `w`.

    Example:
    >>> import numpy as np
    >>> kernel = np.array([[1.0, 0.0], [1.0, 2.0]])  # channels in columns
    >>> [round(float(s), 3) for s in channel_saliency([(kernel, 1)])]
    [0.667, 1.333]
    >>> gates = np.array([[1.0, 0.0, 3.0, 0.0]])  # two blocks of the same 2 channels
    >>> [round(float(s), 3) for s in channel_saliency([(gates, 1, 2)])]
    [2.0, 0.0]
    """
    total = None
    for entry in weights_and_axes:
        w, axis = entry[0], entry[1]
        tiles = entry[2] if len(entry) > 2 else 1
        square = ops.moveaxis(ops.square(_f32(w)), axis, -1)
        per_channel = ops.mean(ops.reshape(square, (-1, square.shape[-1] // tiles)), axis=0)
        scaled = per_channel / ops.maximum(ops.stop_gradient(ops.mean(per_channel)), 1e-30)
        total = scaled if total is None else total + scaled
    return total / len(weights_and_axes)


def broadcast_channels(mask, ndim, axis, tiles=1):
    """Reshapes a `(C,)` channel mask to multiply a rank-`ndim` tensor whose
    channels lie on `axis`, repeated `tiles` times one block after the other.

    Example:
    >>> import numpy as np
    >>> tuple(broadcast_channels(np.ones(3), 4, -2).shape)
    (1, 1, 3, 1)
    >>> [float(v) for v in broadcast_channels(np.array([1.0, 0.0]), 1, 0, tiles=2)]
    [1.0, 0.0, 1.0, 0.0]
    """
    if tiles != 1:
        mask = ops.tile(mask, [tiles])
    shape = [1] * ndim
    shape[axis] = -1
    return ops.reshape(mask, shape)


def channel_temperature(weights, t0):
    """The temperature of a channel mask, in units of the mean saliency:
    `T = t0 * mean_v Var(|w_v|) / mean(w_v^2)`, paper eq. 15 on the weights
    of the scoring tensors, measured relative to their mean square as the
    saliencies are (no gradient). The channels' own saliencies cluster near
    their mean at initialisation, so a temperature taken from their spread
    would leave every channel outside the transitional band, and the
    threshold without gradient.

    Args:
        weights: the scoring tensors (`channel_saliency`'s `w`).
        t0: scalar relative temperature `T0 > 0`.

    Returns:
        float32 scalar, at least 1e-30.

    Example:
    >>> import numpy as np
    >>> round(float(channel_temperature([np.array([1.0, -3.0])], 1.0)), 6)  # Var(|w|) / mean(w^2) = 1 / 5
    0.2
    """
    total = 0.0
    for w in weights:
        mean_sq, mean_abs = moments(w)
        total = total + ops.maximum(mean_sq - ops.square(mean_abs), 0.0) / ops.maximum(mean_sq, 1e-30)
    return ops.maximum(ops.stop_gradient(_f32(t0)) * total / len(weights), 1e-30)


def relative_channel_prune(saliency, theta, temp, training, hard_forward=False):
    """The channel mask and the soft count of kept channels, from saliencies
    with `mean(s) = 1` (`channel_saliency`), `tau = theta` and the
    temperature `T` (`channel_temperature`):

        mask_c  = sigm((stop_gradient(s_c) - tau) / T)   (training)
        mask_c  = step(s_c - tau)                        (inference)
        count_c = sigm((s_c - tau) / T)

    The mask takes `s` without gradient (paper eq. 14: weights get the plain
    `mask` as their gradient factor, the threshold the full derivative); the
    count keeps it, so the L0 term presses on channels near the threshold.
    With `hard_forward` the training mask is the hard one with the soft
    mask's gradient (straight-through).

    Args:
        saliency: `(C,)` float32 saliencies.
        theta: scalar relative threshold.
        temp: scalar temperature `T > 0` (unused in inference).
        training: Python bool.
        hard_forward: Python bool.

    Returns:
        `(mask, count)`, both float32 `(C,)`; `count` is None in inference.

    Example:
    >>> import numpy as np
    >>> mask, _ = relative_channel_prune(np.array([0.5, 1.5]), 1.0, None, training=False)
    >>> [float(m) for m in mask]
    [0.0, 1.0]
    """
    s = _f32(saliency)
    tau = _f32(theta)
    hard = _f32(ops.greater(s, tau))
    if not training:
        return hard, None
    temp = ops.stop_gradient(_f32(temp))
    soft = ops.sigmoid((ops.stop_gradient(s) - tau) / temp)
    count = ops.sigmoid((s - tau) / temp)
    mask = soft + ops.stop_gradient(hard - soft) if hard_forward else soft
    return mask, count
