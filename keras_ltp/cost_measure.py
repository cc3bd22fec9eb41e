"""The cost a channel-pruned model keeps, counting what input channels take.

A weight of a channel-pruned layer goes when its output channel goes, and
also when its input channel goes (`keras_ltp.shrink` removes the input slices
of the layers that read a removed channel). Counting only the first, as a
sum of independent per-weight costs does, says a model keeps more than it
does: on a residual stream, whose channels many layers read, by a wide
margin. Here the kept cost of a channel-pruned layer `R` (one *member*, or
several that share its mask, `keras_ltp.CoupledChannels`) is

    kept_R = k_R * (own_R - sum_m kernel_m + sum_m kernel_m * f_m),

with `k_R` its kept output channels, `own_R` the cost of one of its channels
counted once in the model (`own_channel_cost`), `kernel_m` the part of it in
member `m`'s kernel slice, and `f_m` the fraction of `m`'s input channels
kept: `1 - sum_P removed_P / width_m` over the channel-pruned layers `P` that
write them. Per-weight layers keep `sum cost * [weight kept]`.

All of it is a function of one cut: an entry (a weight, or a channel) is
pruned when its ratio `score / threshold <= cut` (`cut = 1`: now), which is
what `SparsityTarget` moves with one common factor. A layer with sparsity
bounds (`PrunableWrapper(min_sparsity=..., max_sparsity=...)`) prunes
between `least` and `most` of its entries whatever the cut: the count is
clipped there.
"""

import keras
import numpy as np

from keras_ltp.steering import ratios

__all__ = ["Part", "from_wrappers", "removed_fraction"]

_numpy = keras.ops.convert_to_numpy


class Part:
    """One wrapper's entries for `removed_fraction`.

    Args:
        ratios: 1-D array, `score / threshold` of each entry (each weight,
            or each channel).
        cost: cost of one entry: a weight's cost, or a channel's
            `own_channel_cost`.
        members: for a channel-pruned wrapper, a list of `(kernel, width,
            sources)`: the cost of one channel's kernel slice in that
            member, its number of input channels, and the indices (in the
            list of parts) of the channel-pruned parts that write them.
            None for a per-weight wrapper.
        least, most: the fewest and most entries pruned at any cut (the
            layer's sparsity bounds); default 0 and all.
    """

    def __init__(self, ratios, cost, members=None, least=0, most=None):
        self.ratios = np.asarray(ratios, dtype="float64").ravel()
        self.cost = float(cost)
        self.members = members
        self.least = int(least)
        self.most = self.ratios.size if most is None else int(most)

    def pruned(self, cut):
        """How many entries are pruned at `cut`."""
        return min(max(int(np.count_nonzero(self.ratios <= cut)), self.least), self.most)


def removed_fraction(parts, cut):
    """The fraction of the total cost removed when every entry with
    `ratio <= cut` is pruned.

    Args:
        parts: list of `Part`.
        cut: float.

    Returns:
        A float in [0, 1].

    Example:
    >>> # P: 2 channels of cost 3 (1 of it kernel, no inputs pruned); R reads
    >>> # P's 2 channels, 1 channel of cost 4, all kernel.
    >>> p = Part([0.5, 2.0], 3.0, [(1.0, 3, [])])
    >>> r = Part([2.0], 4.0, [(4.0, 2, [0])])
    >>> removed_fraction([p, r], 1.0)  # P loses 1 channel (3), R half its kernel (2) of 10
    0.5
    """
    removed = [p.pruned(cut) for p in parts]
    total = kept = 0.0
    for part, gone in zip(parts, removed):
        total += part.cost * part.ratios.size
        alive = part.ratios.size - gone
        if part.members is None or alive == 0:
            kept += part.cost * alive
            continue
        per_channel = part.cost
        for kernel, width, sources in part.members:
            inputs_gone = min(sum(removed[i] for i in sources), width)
            per_channel -= kernel * inputs_gone / width
        kept += alive * per_channel
    return 0.0 if total <= 0 else 1.0 - kept / total


def from_wrappers(wrappers, measure="cost"):
    """`(squares, taus, removed)` for `keras_ltp.steering.decide`: one
    entry per channel of a channel wrapper (its saliency) and per weight of
    the others, and `removed(cut)`, the `removed_fraction` over them.

    Args:
        wrappers: every `PrunableWrapper` of one model.
        measure: `"cost"` (each entry at its wrapper's cost, input slices
            counted as above) or `"weights"` (each weight counts 1: a
            channel counts the weights it holds).

    Returns:
        `(squares, taus, removed)`.

    Raises:
        ValueError: a wrapper's `channel_inputs` names a wrapper that is
            not a channel-pruned wrapper of `wrappers`.
    """
    by_cost = measure == "cost"
    squares, taus, parts, index, pending = [], [], [], {}, []

    def add(score, tau, cost, bounds):
        squares.append(_numpy(score).astype("float64").ravel())
        taus.append(float(_numpy(tau)))
        least, most = (0, None) if bounds is None else [int(np.count_nonzero(squares[-1] <= b)) for b in bounds]
        parts.append(Part(ratios(squares[-1], taus[-1]), cost, None, least, most))

    for wrapper in wrappers:
        bounds = wrapper.threshold_bounds() or [None] * len(wrapper.pruned_weights)
        if wrapper.granularity == "channel":
            index[wrapper.name] = len(parts)
            saliency = wrapper.channel_saliency()
            cost = wrapper.cost_per_channel() if by_cost else wrapper.num_prunable() / int(saliency.shape[0])
            add(saliency, wrapper.effective_thresholds()[0], cost, bounds[0])
            if by_cost:
                pending.append((parts[-1], wrapper))
            continue
        cost = wrapper.cost_per_weight() if by_cost else 1.0
        for score, tau, bound in zip(wrapper.scores(), wrapper.effective_thresholds(), bounds):
            add(score, tau, cost, bound)
    for part, wrapper in pending:
        if wrapper.channel_inputs:
            missing = sorted({n for e in wrapper.channel_inputs for n in e["sources"] if n not in index})
            if missing:
                raise ValueError(
                    f"SparsityTarget: {wrapper.name!r} reads channels of {missing}, which are not channel-pruned "
                    "wrappers of this model. Its channel_inputs were set by prune() for another model; prune the "
                    "model again, or use measure='weights'."
                )
            part.members = [
                (e["kernel_cost"], e["width"], [index[n] for n in e["sources"]]) for e in wrapper.channel_inputs
            ]
    return squares, taus, lambda cut: removed_fraction(parts, cut)
