"""`SparsityTarget`'s control law, as pure functions of arrays.

The state is the squared weights `s_i = w_i^2` of each pruned tensor, their
thresholds `tau_i`, and the smallest `l0_strength` (lambda) of the model. The
hard sparsity is the fraction of weights with `s <= tau`. At each check:

* below the target, while lambda < `max_strength`: lambda *= 1 + rate;
* below the target, lambda at `max_strength`: every `tau_i` *= c, one common
  factor `c` that closes `catch_up` of the gap (at least one weight);
* above the target: every `tau_i` *= c landing on the target, lambda *= 1/2;
* at the end of `fit`: nothing moves; a shortfall beyond `FINAL_GAP` is
  reported.

The common factor is an order statistic of `r = s / tau` across the model:
pruning `n` weights means `c` halfway between the n-th and (n+1)-th smallest
`r`, so no weight sits on its new threshold.

With `costs` (one per tensor: what each of its weights costs, e.g. its
multiply-adds) the sparsity is the pruned fraction of the total cost,

    sum_i cost_i * #{s_i <= tau_i} / sum_i cost_i * size_i,

and a goal is met by the fewest smallest-`r` weights whose costs add up to
it. Without them every weight costs 1, and both are the plain counts.
"""

import collections
import math

import numpy as np

__all__ = ["FINAL_GAP", "Decision", "common_factor", "count_for", "cut_factor", "decide", "hard_sparsity", "ratios"]

FINAL_GAP = 0.005  # a shortfall beyond this at the end of fit() is reported

Decision = collections.namedtuple("Decision", ["strength_factor", "threshold_factor", "shortfall"])
Decision.__doc__ = """What one check does.

strength_factor: multiply every lambda by this (1.0: unchanged).
threshold_factor: multiply every threshold by this, or None (unchanged).
shortfall: at the end of fit, the gap to report (0.0: nothing to report).
"""


def hard_sparsity(squares, taus, costs=None):
    """Fraction of weights with `s <= tau` over all tensors (of their total
    cost, with `costs`).

    Args:
        squares: list of 1-D float arrays, `w^2` of each tensor.
        taus: list of float thresholds, one per tensor.
        costs: optional list of floats > 0, the cost of each weight of a
            tensor (default: 1).

    Returns:
        A float in [0, 1].

    Example:
    >>> import numpy as np
    >>> hard_sparsity([np.array([1.0, 4.0]), np.array([9.0])], [2.0, 10.0])
    0.6666666666666666
    >>> hard_sparsity([np.array([1.0, 4.0]), np.array([9.0])], [2.0, 10.0], costs=[1.0, 2.0])
    0.75
    """
    costs = _costs(squares, costs)
    total = sum(c * s.size for s, c in zip(squares, costs))
    return sum(c * int(np.count_nonzero(s <= t)) for s, t, c in zip(squares, taus, costs)) / total


def _costs(squares, costs):
    return [1.0] * len(squares) if costs is None else [float(c) for c in costs]


def ratios(square, tau):
    """`s / tau` of each entry of one tensor: 0 where `s = 0` (pruned under
    any threshold), inf where `tau <= 0` (no factor moves it)."""
    return np.where(square > 0, square / tau if tau > 0 else np.inf, 0.0)


def _ratios(squares, taus):
    return [ratios(s, t) for s, t in zip(squares, taus)]


def count_for(squares, taus, costs, fraction):
    """How many weights, taken in increasing `s / tau` (the order a common
    factor prunes them in), it takes to reach `fraction` of the total cost.

    Args:
        squares, taus, costs: as in `hard_sparsity` (`costs` may be None).
        fraction: a float in [0, 1].

    Returns:
        An int; with unit costs `ceil(fraction * total)`.

    Example:
    >>> import numpy as np
    >>> count_for([np.array([1.0, 4.0]), np.array([9.0])], [2.0, 10.0], [1.0, 2.0], 0.5)
    2
    """
    if costs is None:
        return max(math.ceil(fraction * sum(s.size for s in squares) - 1e-9), 0)
    costs = _costs(squares, costs)
    ratios = np.concatenate(_ratios(squares, taus))
    each = np.concatenate([np.full(s.size, c) for s, c in zip(squares, costs)])
    cumulative = np.cumsum(each[np.argsort(ratios, kind="stable")])
    goal = fraction * cumulative[-1] - 1e-9 * max(each.max(), 1.0)
    return 0 if goal <= 0 else int(np.searchsorted(cumulative, goal, side="left")) + 1


def common_factor(squares, taus, count):
    """The factor `c` such that thresholds `c * tau_i` prune exactly the
    `count` weights with the smallest `s / tau`, halfway between two weights.

    Tensors with `tau <= 0` cannot be moved by a factor (their ratio is
    infinite, zero weights excepted).

    Args:
        squares: list of 1-D float arrays, `w^2` of each tensor.
        taus: list of float thresholds.
        count: how many weights the scaled thresholds prune.

    Returns:
        A finite factor > 0, or None where no factor prunes `count` weights
        (`count` is all of them, or the weights under positive thresholds
        are too few).

    Example:
    >>> import numpy as np
    >>> common_factor([np.array([1.0, 4.0, 9.0])], [1.0], 2)  # between 4 and 9
    6.5
    """
    ratios = np.sort(np.concatenate(_ratios(squares, taus)))
    if count >= ratios.size:
        return None
    factor = 0.5 * ratios[0] if count <= 0 else 0.5 * (ratios[count - 1] + ratios[count])
    return float(factor) if math.isfinite(factor) and factor > 0 else None


def cut_factor(squares, taus, removed, goal, above=None):
    """The common factor that prunes the fewest entries (in increasing
    `s / tau`) whose pruning reaches `goal` by the measure `removed`,
    halfway between two entries.

    Args:
        squares, taus: as in `hard_sparsity`.
        removed: callable `cut -> fraction removed` when every entry with
            `s / tau <= cut` is pruned; non-decreasing in `cut`.
        goal: the fraction to reach.
        above: only cuts above this one (e.g. 1.0: prune at least one entry
            more than now); None: any.

    Returns:
        A finite factor > 0, or None where no cut reaches `goal` without
        pruning every entry.

    Example:
    >>> import numpy as np
    >>> squares = [np.array([1.0, 4.0, 9.0])]
    >>> cut_factor(squares, [1.0], lambda cut: (squares[0] <= cut).mean(), 0.5)  # 2 of 3: between 4 and 9
    6.5
    """
    ratios = np.unique(np.concatenate(_ratios(squares, taus)))
    ratios = ratios[np.isfinite(ratios)]
    if above is None and ratios.size and ratios[0] > 0 and removed(-1.0) >= goal:
        return float(0.5 * ratios[0])  # pruning nothing more is enough
    lo = 0 if above is None else int(np.searchsorted(ratios, above, side="right"))
    hi = ratios.size
    while lo < hi:
        mid = (lo + hi) // 2
        if removed(float(ratios[mid])) >= goal - 1e-12:
            hi = mid
        else:
            lo = mid + 1
    if lo >= ratios.size - 1:
        return None
    factor = 0.5 * (ratios[lo] + ratios[lo + 1])
    return float(factor) if math.isfinite(factor) and factor > 0 else None


def decide(squares, taus, strength, target, *, rate, max_strength, catch_up, final=False, costs=None, removed=None):
    """One check of the control law (module docstring).

    Args:
        squares: list of 1-D float arrays, `w^2` of each pruned tensor.
        taus: list of float thresholds.
        strength: the smallest lambda in the model.
        target: target hard sparsity in (0, 1).
        rate: relative increase of lambda per check below the target.
        max_strength: lambda is raised no further than this.
        catch_up: fraction of the gap closed per check at `max_strength`.
        final: the check at the end of `fit` (nothing moves).
        costs: optional cost of each weight of each tensor: the sparsity
            and the target are then fractions of the total cost.
        removed: optional measure instead of `costs`: callable `cut ->
            fraction removed` when every entry with `s / tau <= cut` is
            pruned (`keras_ltp.cost_measure`: costs that depend on which
            input channels go too); thresholds then move by `cut_factor`.

    Returns:
        A `Decision`.

    Example:
    >>> import numpy as np
    >>> squares = [np.arange(1.0, 11.0)]
    >>> decide(squares, [3.5], 1.0, 0.5, rate=0.1, max_strength=30.0, catch_up=0.1)
    Decision(strength_factor=1.1, threshold_factor=None, shortfall=0.0)
    >>> above = decide(squares, [7.5], 1.0, 0.5, rate=0.1, max_strength=30.0, catch_up=0.1)
    >>> above.strength_factor, round(above.threshold_factor, 4)  # (5 + 6) / 2 / 7.5
    (0.5, 0.7333)
    """
    if removed is None:
        current = hard_sparsity(squares, taus, costs)

        def factor_for(goal, more):
            count = count_for(squares, taus, costs, goal)
            if more:  # at least one weight more than now, never past the target
                pruned_now = sum(int(np.count_nonzero(s <= t)) for s, t in zip(squares, taus))
                count = min(max(count, pruned_now + 1), count_for(squares, taus, costs, target))
            return common_factor(squares, taus, count)

    else:
        current = removed(1.0)

        def factor_for(goal, more):
            return cut_factor(squares, taus, removed, goal, above=1.0 if more else None)

    if current < target:
        if final:
            gap = target - current
            return Decision(1.0, None, gap if gap > FINAL_GAP else 0.0)
        if strength < max_strength * (1 - 1e-6):
            return Decision(1.0 + rate, None, 0.0)
        return Decision(1.0, factor_for(current + catch_up * (target - current), more=True), 0.0)
    if current > target:
        return Decision(0.5, factor_for(target, more=False), 0.0)
    return Decision(1.0, None, 0.0)
