"""Scoring formulas against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recursive_training.retrodiction import (
    WindowScore,
    naive_scale,
    pool_scores,
    score_window,
)


def test_naive_scale_by_hand():
    # |2-1| + |4-2| + |3-4| = 4 over 3 differences
    assert naive_scale(np.array([1.0, 2.0, 4.0, 3.0])) == pytest.approx(4 / 3)


def test_scores_by_hand():
    actual = np.array([[10.0, 12.0], [8.0, 0.0]])
    forecast = np.array([[11.0, 10.0], [8.0, 1.0]])
    naive = np.array([[9.0, 9.0], [12.0, 12.0]])
    # errors: +1, -2, 0, +1 -> |e| = 1, 2, 0, 1
    s = score_window(forecast, actual, naive, scale=2.0, tolerance=0.5)
    assert s.n == 4 and s.n_origins == 2
    assert s.mae == pytest.approx(1.0)
    assert s.rmse == pytest.approx(math.sqrt((1 + 4 + 0 + 1) / 4))
    assert s.bias == pytest.approx((1 - 2 + 0 + 1) / 4)
    assert s.mase == pytest.approx(0.5)
    # sMAPE terms: 2*1/21, 2*2/22, 0/16 = 0, 2*1/1 = 2
    assert s.smape == pytest.approx(100 * (2 / 21 + 4 / 22 + 0 + 2) / 4)
    # naive |e|: 1, 3, 4, 12 -> 5
    assert s.naive_mae == pytest.approx(5.0)
    assert s.skill == pytest.approx(1 - 1 / 5)
    # success: |e|/2 <= 0.5 -> |e| <= 1: 1, 0, 1 succeed; 2 fails
    assert (s.successes, s.failures) == (3, 1)


def test_zero_scale_counts_only_exact_forecasts():
    actual = np.array([[5.0, 5.0, 5.0]])
    s = score_window(np.array([[5.0, 6.0, 5.0]]), actual, actual, scale=0.0, tolerance=1.0)
    assert (s.successes, s.failures) == (2, 1)
    assert math.isnan(s.mase)
    assert s.to_dict()["mase"] is None
    assert WindowScore.from_dict(s.to_dict()).successes == 2


def test_smape_of_zero_actual_and_forecast_is_zero():
    zeros = np.zeros((1, 2))
    assert score_window(zeros, zeros, zeros, 1.0, 1.0).smape == 0.0


def test_pooling_equals_scoring_all_points_together():
    rng = np.random.default_rng(0)
    a_f, a_y, b_f, b_y = (rng.normal(size=(3, 4)) for _ in range(4))
    a_n, b_n = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    scale = 0.7  # same scale in both windows, so MASE pools exactly too
    pooled = pool_scores([score_window(a_f, a_y, a_n, scale, 1.0), score_window(b_f, b_y, b_n, scale, 1.0)])
    together = score_window(np.vstack([a_f, b_f]), np.vstack([a_y, b_y]), np.vstack([a_n, b_n]), scale, 1.0)
    for field in ("n", "n_origins", "mae", "rmse", "mase", "smape", "bias", "naive_mae", "skill",
                  "successes", "failures"):
        assert getattr(pooled, field) == pytest.approx(getattr(together, field)), field
