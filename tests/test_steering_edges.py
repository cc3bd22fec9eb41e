"""SparsityTarget's control law (keras_ltp.steering) at its edges, against
brute-force counts: a weight on its threshold, the first weight of a step,
a tensor whose threshold went negative, a target that is a whole number of
weights, the smallest step. Found by mutation testing (docs/testing.md)."""

import math

import numpy as np
import pytest

from keras_ltp import steering


def pruned_count(squares, taus):
    """Weights the hard mask removes (keep iff w^2 > tau), one by one."""
    return sum(1 for s, t in zip(squares, taus) for value in s if not value > t)


def pruned_after(squares, taus, factor):
    return pruned_count(squares, [factor * t for t in taus])


def on_a_threshold(squares, taus, factor):
    return any(value == factor * t for s, t in zip(squares, taus) for value in s)


LAW = dict(rate=0.1, max_strength=30.0, catch_up=0.1)


def test_a_weight_on_its_threshold_counts_as_pruned():
    # Exact zeros under tau = 0 (a stripped model pruned again) and a weight
    # whose square equals its threshold are both pruned by the hard mask.
    squares = [np.array([0.0, 0.0, 1.0, 4.0]), np.array([2.0, 3.0])]
    taus = [0.0, 2.0]
    assert steering.hard_sparsity(squares, taus) == pruned_count(squares, taus) / 6 == 0.5


def test_every_count_is_pruned_exactly_including_the_first_weight():
    squares = [np.array([1.0, 4.0, 9.0, 16.0]), np.array([0.5, 8.0, 2.0])]
    taus = [1.0, 2.0]  # ratios s / tau: 1, 4, 9, 16 and 0.25, 4, 1: ties included
    distinct = sorted({float(r) for s, t in zip(squares, taus) for r in s / t})
    for count in range(7):
        factor = steering.common_factor(squares, taus, count)
        if count in (2, 4):  # would split a tie (two weights share a ratio)
            continue
        assert factor is not None, count
        assert pruned_after(squares, taus, factor) == count, (count, factor)
        assert not on_a_threshold(squares, taus, factor)
    assert distinct[0] / 2 == steering.common_factor(squares, taus, 0)


def test_one_weight_is_pruned_between_the_smallest_two_ratios():
    factor = steering.common_factor([np.array([1.0, 4.0, 9.0])], [1.0], 1)
    assert factor == pytest.approx(2.5)
    assert pruned_after([np.array([1.0, 4.0, 9.0])], [1.0], factor) == 1


def test_a_tensor_with_a_negative_threshold_is_left_alone():
    # A trained theta can go below zero: that tensor prunes nothing, and no
    # factor changes that, so the count must come from the other tensors.
    squares = [np.array([1.0, 4.0, 9.0, 16.0]), np.array([0.01, 0.02, 5.0])]
    taus = [1.0, -0.5]
    for count in range(4):
        factor = steering.common_factor(squares, taus, count)
        assert factor is not None and factor > 0, count
        assert pruned_after(squares, taus, factor) == count
    assert steering.common_factor(squares, taus, 4) is None  # the other 3 cannot be pruned


@pytest.mark.parametrize("total,target", [(10, 0.5), (10, 0.3), (20, 0.45), (1000, 0.7), (7, 3 / 7)])
def test_above_the_target_lands_on_it_exactly(total, target):
    # target * total weights is a whole number (0.3 * 10 is 3.0000000000000004
    # in floats): land on exactly that many, not one more.
    rng = np.random.default_rng(total)
    squares = [rng.uniform(0.1, 1.0, total)]
    taus = [float(np.sort(squares[0])[-1]) * 0.999]  # nearly everything pruned
    decision = steering.decide(squares, taus, 5.0, target, **LAW)
    assert decision.strength_factor == 0.5
    assert decision.shortfall == 0.0
    assert pruned_after(squares, taus, decision.threshold_factor) == round(target * total)


def test_at_max_strength_each_check_prunes_at_least_one_weight():
    # catch_up so small that `catch_up` of the gap is far below one weight.
    squares = [np.arange(1.0, 101.0)]
    taus = [10.5]  # 10 of 100 pruned, target 50
    for catch_up, expected in [(1e-12, 11), (0.1, 14), (1.0, 50)]:
        decision = steering.decide(squares, taus, 30.0, 0.5, rate=0.1, max_strength=30.0, catch_up=catch_up)
        assert decision.strength_factor == 1.0 and decision.shortfall == 0.0
        assert pruned_after(squares, taus, decision.threshold_factor) == expected, catch_up
    # 10 + ceil(0.1 * 40) = 14; the whole gap with catch_up = 1


def test_below_the_target_raises_lambda_and_reports_nothing_until_the_end():
    squares = [np.arange(1.0, 11.0)]
    below = steering.decide(squares, [3.5], 1.0, 0.5, **LAW)
    assert below == steering.Decision(1.1, None, 0.0)
    final = steering.decide(squares, [3.5], 1.0, 0.5, final=True, **LAW)
    assert final == steering.Decision(1.0, None, pytest.approx(0.5 - 0.3))
    exact = steering.decide(squares, [5.5], 1.0, 0.5, **LAW)
    assert exact == steering.Decision(1.0, None, 0.0)
    assert math.isclose(steering.hard_sparsity(squares, [5.5]), 0.5)
