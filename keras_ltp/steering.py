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
"""

import collections
import math

import numpy as np

__all__ = ["FINAL_GAP", "Decision", "common_factor", "decide", "hard_sparsity"]

FINAL_GAP = 0.005  # a shortfall beyond this at the end of fit() is reported

Decision = collections.namedtuple("Decision", ["strength_factor", "threshold_factor", "shortfall"])
Decision.__doc__ = """What one check does.

strength_factor: multiply every lambda by this (1.0: unchanged).
threshold_factor: multiply every threshold by this, or None (unchanged).
shortfall: at the end of fit, the gap to report (0.0: nothing to report).
"""


def hard_sparsity(squares, taus):
    """Fraction of weights with `s <= tau` over all tensors.

    Args:
        squares: list of 1-D float arrays, `w^2` of each tensor.
        taus: list of float thresholds, one per tensor.

    Returns:
        A float in [0, 1].

    Example:
    >>> import numpy as np
    >>> hard_sparsity([np.array([1.0, 4.0]), np.array([9.0])], [2.0, 10.0])
    0.6666666666666666
    """
    total = sum(s.size for s in squares)
    return sum(int(np.count_nonzero(s <= t)) for s, t in zip(squares, taus)) / total


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
    ratios = np.sort(np.concatenate([np.where(s > 0, s / t if t > 0 else np.inf, 0.0) for s, t in zip(squares, taus)]))
    if count >= ratios.size:
        return None
    factor = 0.5 * ratios[0] if count <= 0 else 0.5 * (ratios[count - 1] + ratios[count])
    return float(factor) if math.isfinite(factor) and factor > 0 else None


def decide(squares, taus, strength, target, *, rate, max_strength, catch_up, final=False):
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
    total = sum(s.size for s in squares)
    current = hard_sparsity(squares, taus)
    if current < target:
        if final:
            gap = target - current
            return Decision(1.0, None, gap if gap > FINAL_GAP else 0.0)
        if strength < max_strength * (1 - 1e-6):
            return Decision(1.0 + rate, None, 0.0)
        goal = current + catch_up * (target - current)
        pruned_now = round(current * total)
        count = min(max(math.ceil(goal * total - 1e-9), pruned_now + 1), math.ceil(target * total - 1e-9))
        return Decision(1.0, common_factor(squares, taus, count), 0.0)
    if current > target:
        return Decision(0.5, common_factor(squares, taus, math.ceil(target * total - 1e-9)), 0.0)
    return Decision(1.0, None, 0.0)
