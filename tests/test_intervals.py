"""Conformal forecast intervals: the ranks by hand, and coverage against a known truth by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.intervals import conformal_offsets, recency_weights


def test_offsets_are_the_conformal_order_statistics():
    rng = np.random.default_rng(1)
    errors = rng.normal(size=(19, 2))
    offsets = conformal_offsets(errors, levels=(0.8,))
    for k in range(2):
        ordered = np.sort(errors[:, k])
        rank = math.ceil(20 * 0.9)  # (n + 1)(1 - a/2) with n = 19, a = 0.2: the 18th smallest
        assert offsets[k, 0, 0] == -ordered[rank - 1]  # actual = forecast - error
        assert offsets[k, 0, 1] == -ordered[19 - rank]  # the 18th largest error, from the other side


def test_too_few_errors_give_an_unbounded_side_and_nan_is_left_out():
    errors = np.array([[1.0], [2.0], [np.nan], [3.0], [4.0], [5.0]])
    offsets = conformal_offsets(errors, levels=(0.5, 0.95))
    assert offsets[0, 1].tolist() == [-math.inf, math.inf]  # rank ceil(6 * 0.975) = 6 > 5 errors
    assert offsets[0, 0].tolist() == [-5.0, -1.0]  # rank ceil(6 * 0.75) = 5 of 5 values, from either side
    assert conformal_offsets(np.empty((0, 3))).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="level"):
        conformal_offsets(errors, levels=(1.0,))


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_coverage_of_exchangeable_errors_is_nominal(level):
    """Heavy-tailed errors (t, 3 degrees of freedom), 60 calibration errors per trial: the interval
    covers the next actual at least at the nominal rate and at most 2/(n + 1) above it."""
    rng = np.random.default_rng(7)
    trials, n = 4000, 60
    draws = rng.standard_t(3, size=(trials, n + 1))
    covered = 0
    for row in draws:
        low, high = conformal_offsets(row[:n, None], levels=(level,))[0, 0]
        covered += low <= -row[n] <= high  # forecast 0, actual = -error
    rate = covered / trials
    se = math.sqrt(level * (1 - level) / trials)
    assert level - 3 * se <= rate <= level + 2 / (n + 1) + 3 * se, rate


def test_recency_weights_follow_a_change_of_regime():
    """Errors grow threefold half way through: equal weights under-cover the new regime, weights with a
    half-life of 40 origins cover it at about the nominal rate. (A half-life so short that the weights
    sum to under 39 leaves too little weight for a 95% bound: the interval is then unbounded.)"""
    rng = np.random.default_rng(3)
    trials, n = 2000, 200
    times = np.arange(n, dtype=float)
    weights = recency_weights(times, half_life=40.0)
    assert weights[-1] == 1.0 and weights[-41] == pytest.approx(0.5)
    short = conformal_offsets(np.ones((n, 1)), levels=(0.95,), weights=recency_weights(times, 20.0))
    assert short[0, 0].tolist() == [-math.inf, math.inf]
    plain = recent = 0
    for _ in range(trials):
        errors = np.concatenate([rng.normal(0, 1, n // 2), rng.normal(0, 3, n // 2)])[:, None]
        actual = -rng.normal(0, 3)
        low, high = conformal_offsets(errors, levels=(0.95,))[0, 0]
        plain += low <= actual <= high
        low, high = conformal_offsets(errors, levels=(0.95,), weights=weights)[0, 0]
        recent += low <= actual <= high
    assert plain / trials < 0.92 and abs(recent / trials - 0.95) < 0.03, (plain / trials, recent / trials)
    equal = np.ones(n)
    sample = rng.normal(size=(n, 1))
    assert np.array_equal(conformal_offsets(sample, weights=equal), conformal_offsets(sample))
