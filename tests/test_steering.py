"""SparsityTarget's control law (keras_ltp.steering), on plain numpy arrays:
no model, no optimizer. Expectations are counted by brute force."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_ltp import steering

LAW = dict(rate=0.1, max_strength=30.0, catch_up=0.25)


def _tensors(seed, sizes=(50, 120, 30)):
    rng = np.random.default_rng(seed)
    squares = [np.square(rng.normal(scale=s, size=n)) for s, n in zip((0.1, 1.0, 3.0), sizes)]
    taus = [float(np.quantile(s, q)) for s, q in zip(squares, (0.2, 0.5, 0.7))]
    return squares, taus


def _pruned(squares, taus, factor=1.0):
    """Brute force: weights with w^2 <= factor * tau, element by element."""
    return sum(1 for s, t in zip(squares, taus) for value in s if value <= factor * t)


def _closest_gap(squares, taus, factor):
    return min(abs(value - factor * t) / max(factor * t, 1e-30) for s, t in zip(squares, taus) for value in s if t > 0)


def test_hard_sparsity_is_the_pruned_fraction():
    squares, taus = _tensors(0)
    assert steering.hard_sparsity(squares, taus) == _pruned(squares, taus) / 200


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), count=st.integers(0, 199))
def test_common_factor_prunes_exactly_count_weights_never_on_a_threshold(seed, count):
    squares, taus = _tensors(seed)
    factor = steering.common_factor(squares, taus, count)
    assert factor is not None and factor > 0
    assert _pruned(squares, taus, factor) == count
    assert _closest_gap(squares, taus, factor) > 1e-7  # halfway between two weights


def test_common_factor_leaves_unmovable_tensors_and_reports_impossible_counts():
    squares = [np.array([1.0, 4.0, 9.0]), np.array([0.0, 2.0])]
    taus = [1.0, 0.0]  # the second tensor's threshold cannot be scaled
    # Ratios: 1, 4, 9 (first); 0 (an exact zero, always pruned), inf (second).
    assert steering.common_factor(squares, taus, 3) == pytest.approx(6.5)  # zero + 1 + 4
    assert steering.common_factor(squares, taus, 4) is None  # would need the inf ratio
    assert steering.common_factor(squares, taus, 5) is None  # all of them
    assert steering.common_factor(squares, taus, 0) is None  # below the exact zero


def test_below_target_raises_lambda_until_max_strength():
    squares, taus = _tensors(1)
    current = steering.hard_sparsity(squares, taus)
    decision = steering.decide(squares, taus, 2.0, current + 0.2, **LAW)
    assert decision == steering.Decision(1.1, None, 0.0)


def test_at_max_strength_moves_thresholds_by_catch_up_of_the_gap():
    squares, taus = _tensors(2)
    total, current = 200, steering.hard_sparsity(squares, taus)
    target = current + 0.2
    decision = steering.decide(squares, taus, 30.0, target, **LAW)
    assert decision.strength_factor == 1.0 and decision.shortfall == 0.0
    expected = math.ceil((current + 0.25 * (target - current)) * total - 1e-9)
    assert _pruned(squares, taus, decision.threshold_factor) == expected
    # A tiny gap still prunes at least one more weight, and never past the target.
    just_below = (_pruned(squares, taus) + 0.5) / total
    decision = steering.decide(squares, taus, 30.0, just_below, **LAW)
    assert _pruned(squares, taus, decision.threshold_factor) == _pruned(squares, taus) + 1


def test_above_target_lands_on_it_and_halves_lambda():
    squares, taus = _tensors(3)
    target = steering.hard_sparsity(squares, taus) - 0.1234
    decision = steering.decide(squares, taus, 5.0, target, **LAW)
    assert decision.strength_factor == 0.5
    assert _pruned(squares, taus, decision.threshold_factor) == math.ceil(target * 200 - 1e-9)


def test_on_target_nothing_moves():
    squares, taus = _tensors(4)
    target = steering.hard_sparsity(squares, taus)
    assert steering.decide(squares, taus, 5.0, target, **LAW) == steering.Decision(1.0, None, 0.0)


@pytest.mark.parametrize("short_by, reported", [(0.004, False), (0.05, True)])
def test_end_of_fit_moves_nothing_and_reports_a_shortfall_beyond_final_gap(short_by, reported):
    squares, taus = _tensors(5)
    current = steering.hard_sparsity(squares, taus)
    for strength in (1.0, 30.0):  # below and at max_strength alike
        decision = steering.decide(squares, taus, strength, current + short_by, final=True, **LAW)
        assert decision.strength_factor == 1.0 and decision.threshold_factor is None
        assert decision.shortfall == (pytest.approx(short_by) if reported else 0.0)


def _pruned_cost(squares, taus, costs, factor=1.0):
    """Brute force: the cost of the weights with w^2 <= factor * tau."""
    return sum(c for s, t, c in zip(squares, taus, costs) for value in s if value <= factor * t)


def test_hard_sparsity_with_costs_is_the_pruned_fraction_of_the_cost():
    squares, taus = _tensors(0)
    costs = [784.0, 196.0, 1.0]
    total = 50 * 784.0 + 120 * 196.0 + 30 * 1.0
    assert steering.hard_sparsity(squares, taus, costs) == pytest.approx(_pruned_cost(squares, taus, costs) / total)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.01, 0.99))
def test_count_for_takes_the_fewest_smallest_ratio_weights_that_reach_the_cost(seed, fraction):
    squares, taus = _tensors(seed)
    costs = [5.0, 1.0, 0.5]
    count = steering.count_for(squares, taus, costs, fraction)
    # Brute force: weights in increasing w^2 / tau, their costs added one by one.
    order = sorted((value / t, c) for s, t, c in zip(squares, taus, costs) for value in s)
    total = sum(c for _, c in order)
    reached = [sum(c for _, c in order[:k]) >= fraction * total - 1e-9 for k in range(len(order) + 1)]
    assert count == reached.index(True)
    assert steering.count_for(squares, taus, None, fraction) == math.ceil(fraction * 200 - 1e-9)


def test_above_a_cost_target_lands_on_it_in_cost():
    squares, taus = _tensors(2)
    costs = [784.0, 196.0, 1.0]
    total = 50 * 784.0 + 120 * 196.0 + 30 * 1.0
    decision = steering.decide(squares, taus, 1.0, 0.3, **LAW, costs=costs)
    assert decision.strength_factor == 0.5
    pruned = _pruned_cost(squares, taus, costs, decision.threshold_factor)
    # On the target: reached, and short of it without the costliest pruned weight.
    assert 0.3 * total <= pruned < 0.3 * total + 784.0
