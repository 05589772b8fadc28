"""Rolling-origin semantics and the proof that nothing leaks from the future."""

from __future__ import annotations

import numpy as np
import pytest

from recursive_training.base import ConfigError, InsufficientDataError
from recursive_training.retrodiction import (
    RetrodictionSettings,
    first_occurrences,
    forecast_origins,
    retrodict_window,
)

DAY = np.timedelta64(1, "D")


def series(n=300, seed=0):
    ts = np.datetime64("2020-01-01") + np.arange(n) * DAY
    t = np.arange(n)
    y = 10 + np.sin(2 * np.pi * t / 7) + np.random.default_rng(seed).normal(0, 0.3, n)
    return ts, y


def test_origins_every_step_inside_window_and_skip_missing_targets():
    ts, _ = series(100)
    start, end = ts[90], ts[99] + DAY  # window holds indices 90..99
    got = forecast_origins(ts, start, end, horizon=3, step=2)
    # 90, 92, 94, 96 have targets up to 99; 98 would need index 101 -> skipped
    np.testing.assert_array_equal(got, [90, 92, 94, 96])


def test_window_with_irregular_timestamps_counts_observations():
    ts = np.array(["2020-01-01", "2020-01-02", "2020-01-05", "2020-01-09", "2020-01-10"], dtype="datetime64[ns]")
    got = forecast_origins(ts, np.datetime64("2020-01-02"), np.datetime64("2020-01-09"), horizon=2, step=1)
    np.testing.assert_array_equal(got, [1, 2])  # origin 1 -> targets 2, 3; origin 2 -> targets 3, 4


def test_naive_window_by_hand():
    ts = np.datetime64("2020-01-01") + np.arange(8) * DAY
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 9.0, 7.0])
    settings = RetrodictionSettings(models=("naive",), horizon=2, lookback=3)
    result = retrodict_window(ts, y, ts[4], ts[7], "naive", settings)
    # training: the 3 observations before index 4 -> 3, 2, 5; scale = (1 + 3) / 2
    assert result.scale == pytest.approx(2.0)
    assert result.n_train == 3
    # origins 4 and 5 (6 would need index 8)
    np.testing.assert_array_equal(result.forecasts, [[4, 4], [6, 6]])
    np.testing.assert_array_equal(result.actuals, [[6, 9], [9, 7]])
    score = result.score(tolerance=1.0)
    assert score.mae == pytest.approx((2 + 5 + 3 + 1) / 4)
    assert (score.successes, score.failures) == (2, 2)  # |e| <= 2: 2 and 1


MODELS = ["naive", "seasonal_naive", "ar", "mlp", "lstm", "ets", "theta", "ces"]


@pytest.mark.parametrize("model, refit_every", [*((m, r) for m in MODELS for r in (0, 5)),
                                                ("arima", 0)])  # AutoARIMA: about a second per fit
def test_no_leakage_from_after_the_origin(model, refit_every):
    """Changing every observation after an origin cannot change the forecast made at it."""
    ts, y = series()
    settings = RetrodictionSettings(models=(model,), horizon=4, lookback=100, refit_every=refit_every,
                                    epochs=20, lags=8, ar_order=3)
    start, end = ts[200], ts[260]
    base = retrodict_window(ts, y, start, end, model, settings)
    origin_index = 200 + 23  # an origin in the middle of a refit block
    tampered = y.copy()
    tampered[origin_index + 1:] += np.random.default_rng(9).normal(0, 50, len(y) - origin_index - 1)
    moved = retrodict_window(ts, tampered, start, end, model, settings)
    known = base.origins <= ts[origin_index]
    assert known.sum() == 24
    np.testing.assert_array_equal(moved.forecasts[known], base.forecasts[known])
    assert not np.array_equal(moved.actuals[known], base.actuals[known])  # the tampering was real


@pytest.mark.parametrize("model", ["naive", "ar", "mlp", "ets"])
def test_training_ignores_data_older_than_lookback(model):
    ts, y = series()
    settings = RetrodictionSettings(models=(model,), horizon=3, lookback=50, epochs=20, lags=8, ar_order=3)
    base = retrodict_window(ts, y, ts[200], ts[230], model, settings)
    tampered = y.copy()
    tampered[:150] = -1000.0
    moved = retrodict_window(ts, tampered, ts[200], ts[230], model, settings)
    np.testing.assert_array_equal(moved.forecasts, base.forecasts)


def test_refit_uses_data_up_to_the_refit_origin():
    """AR refitted every 10 origins differs from a single fit once the level shifts."""
    ts, y = series()
    y = y.copy()
    y[210:] += 30.0  # a level shift inside the window
    once = retrodict_window(ts, y, ts[200], ts[260], "ar", RetrodictionSettings(horizon=2, lookback=60, ar_order=2))
    refit = retrodict_window(ts, y, ts[200], ts[260], "ar",
                             RetrodictionSettings(horizon=2, lookback=60, ar_order=2, refit_every=10))
    np.testing.assert_array_equal(once.forecasts[:10], refit.forecasts[:10])  # first block: same fit
    assert not np.array_equal(once.forecasts[10:], refit.forecasts[10:])
    assert once.scale == refit.scale  # MASE keeps the initial training yardstick


def test_too_little_training_data_is_reported():
    ts, y = series(60)
    with pytest.raises(InsufficientDataError, match="training observations"):
        retrodict_window(ts, y, ts[5], ts[40], "ar", RetrodictionSettings(ar_order=7))


def test_window_without_origins_is_reported():
    ts, y = series(60)
    with pytest.raises(InsufficientDataError, match="no origin"):
        retrodict_window(ts, y, ts[58], ts[59] + DAY, "naive", RetrodictionSettings(horizon=7))


@pytest.mark.parametrize("model,refit_every", [("ar", 0), ("ar", 7), ("mlp", 5), ("seasonal_naive", 0)])
def test_a_forecast_does_not_depend_on_the_scored_span(model, refit_every):
    """Fits and refits follow the grid window, so scoring part of it gives the same forecasts."""
    ts, y = series()
    settings = RetrodictionSettings(models=(model,), horizon=3, lookback=60, refit_every=refit_every,
                                    epochs=10, lags=6, ar_order=3)
    whole = retrodict_window(ts, y, ts[200], ts[240], model, settings)
    part = retrodict_window(ts, y, ts[200], ts[240], model, settings, span=(ts[213], ts[229]))
    inside = (whole.origins >= ts[213]) & (whole.origins < ts[229])
    assert inside.sum() == 16 == len(part.origins)
    # equal up to rounding: BLAS and torch may sum in another order for another number of origins
    np.testing.assert_allclose(part.forecasts, whole.forecasts[inside], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(part.counted, whole.counted[inside])


def test_first_occurrences_by_hand():
    origins = np.array([10, 11, 12])
    forecasts = np.array([[1.0, 2.0], [2.0, 5.0], [5.0, 3.0]])
    # targets: origin 10 -> 11, 12; origin 11 -> 12, 13; origin 12 -> 13, 14
    # (12, 2.0) comes from origins 10 and 11: the later one repeats it; (13, 5.0) from 11 and 12 likewise
    np.testing.assert_array_equal(first_occurrences(origins, forecasts), [[1, 1], [0, 1], [0, 1]])


@pytest.mark.parametrize("step", [1, 2])
def test_seasonal_naive_counts_each_target_once_across_windows(step):
    """With h <= m every step of a target reuses one value; over adjacent windows each pair counts once."""
    ts, y = series(400)
    settings = RetrodictionSettings(models=("seasonal_naive",), horizon=5, season_length=7, lookback=30, step=step)
    bounds = [ts[100], ts[130], ts[160], ts[190]]
    counted_targets = []
    for previous, start, end in zip([ts[70], *bounds], bounds, bounds[1:]):
        result = retrodict_window(ts, y, start, end, "seasonal_naive", settings, previous_window_start=previous)
        assert result.counted.sum() < result.counted.size
        counted_targets.extend(result.target_times[result.counted].tolist())
    # each target reached from some origin of the three windows is counted exactly once, except the
    # first few, whose pairs were made first by origins of the window before (not scored here)
    assert len(counted_targets) == len(set(counted_targets))
    first_origin = 100
    reached = {int(o) + k for o in range(first_origin, 190, step) for k in range(1, 6)}
    made_earlier = {t for t in reached if t - 5 < first_origin and any(
        o < first_origin and (o - 70) % step == 0 and t - o <= 5 for o in range(t - 5, t))}
    assert len(counted_targets) == len(reached - made_earlier)


def test_a_lookback_duration_trains_on_that_stretch_of_time():
    ts, y = series()
    by_count = retrodict_window(ts, y, ts[200], ts[230], "ar", RetrodictionSettings(lookback=56, ar_order=3))
    by_weeks = retrodict_window(ts, y, ts[200], ts[230], "ar", RetrodictionSettings(lookback="8W", ar_order=3))
    assert by_weeks.n_train == 56  # 8 weeks of daily data
    np.testing.assert_array_equal(by_weeks.forecasts, by_count.forecasts)
    capped = retrodict_window(ts, y, ts[200], ts[230], "ar", RetrodictionSettings(lookback="5Y", ar_order=3))
    assert capped.n_train == 200  # capped at the history there is
    months = retrodict_window(ts, y, ts[200], ts[230], "naive", RetrodictionSettings(lookback="2M"))
    # 2020-01-01 + 200 days = 2020-07-19; two months back is 2020-05-19: 61 days
    assert months.n_train == 61
    with pytest.raises(ConfigError, match="neither a number of observations nor a duration"):
        RetrodictionSettings(lookback="2 months")
    assert RetrodictionSettings(lookback="365").lookback == 365
