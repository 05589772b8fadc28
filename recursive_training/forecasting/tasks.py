"""The work of forecasting one group of variables, the same in this process and on a Dask worker.

Top level and free of the registry and the trust database: a worker reads
the store itself, fits and forecasts, and hands back the fitted models; the
coordinator registers them and writes the table, so one process writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from analytics import conformal_offsets, recency_weights

from ..base import DataError
from ..data import open_store
from ..registry import data_fingerprint
from ..retrodiction import ForecastModel, RetrodictionSettings, parse_model_specs
from .selection import Choice

__all__ = ["FittedForecast", "LEVELS", "fit_and_forecast", "forecast_frame", "forecast_group", "future_times"]

LEVELS = (0.8, 0.95)
_NS_PER_DAY = 86_400e9


@dataclass(frozen=True, eq=False)
class FittedForecast:
    """One variable's forecasts and the model fitted for them, with what its registration needs."""

    variable: str
    frame: pd.DataFrame
    model: ForecastModel
    spec: str
    train_start: str
    train_end: str
    fingerprint: str


def forecast_group(store_path: Path, store_kind: str, horizon: int, choices: Sequence[tuple[str, Choice]],
                   half_life_days: float | None = None) -> list[FittedForecast]:
    """``fit_and_forecast`` for each chosen variable, reading the store here (on the worker)."""
    store = open_store(store_path, store_kind)
    return [fit_and_forecast(variable, store.load(variable), choice, horizon, half_life_days)
            for variable, choice in choices]


def fit_and_forecast(variable: str, series: pd.Series, choice: Choice, horizon: int,
                     half_life_days: float | None = None) -> FittedForecast:
    """Fit the chosen model on its schedule's latest lookback of ``series`` and forecast ``horizon`` steps
    past its end: the forecast's whole recipe, so a bench can replay it from any past origin."""
    spec = parse_model_specs([choice.key.spec])[0]
    timestamps = series.index.to_numpy(dtype="datetime64[ns]")
    values = series.to_numpy(dtype=float)
    schedule = dict(part.split("=", 1) for part in choice.key.schedule.split(","))
    lookback = RetrodictionSettings(lookback=schedule["lookback"])
    begin = lookback.training_begin(timestamps, len(values), future_times(series.index, 1)[0].to_datetime64())
    model = spec.build().fit(values[begin:])
    return FittedForecast(variable, forecast_frame(variable, series, model, spec.id, horizon, choice, half_life_days),
                          model, spec.id, str(timestamps[begin]), str(timestamps[-1]),
                          data_fingerprint(timestamps[begin:], values[begin:]))


def forecast_frame(variable: str, series: pd.Series, model: ForecastModel, spec_id: str, horizon: int,
                   choice: Choice | None, half_life_days: float | None = None) -> pd.DataFrame:
    """``horizon`` forecasts from the last observation, with conformal intervals from ``choice``'s kept
    errors (none without them), weighted toward recent origins if ``half_life_days`` is given."""
    values = series.to_numpy(dtype=float)
    point = model.predict(values, np.array([len(values) - 1]), horizon)[0]
    if choice is None:
        offsets = np.full((horizon, len(LEVELS), 2), np.nan)
    else:
        weights = None if half_life_days is None else recency_weights(choice.errors.origins / _NS_PER_DAY,
                                                                      half_life_days)
        offsets = conformal_offsets(choice.errors.errors[:, :horizon],
                                    LEVELS, weights)
    return pd.DataFrame({"variable": variable, "timestamp": future_times(series.index, horizon), "model": spec_id,
                         "forecast": point, "lo_80": point + offsets[:, 0, 0], "hi_80": point + offsets[:, 0, 1],
                         "lo_95": point + offsets[:, 1, 0], "hi_95": point + offsets[:, 1, 1]})


def future_times(index: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The next ``horizon`` timestamps at the series' own frequency (its median step where it has none)."""
    frequency = pd.infer_freq(index[-min(len(index), 30):]) if len(index) >= 3 else None
    if frequency is not None:
        return pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
    step = pd.Timedelta(np.median(np.diff(index.to_numpy(dtype="datetime64[ns]"))))
    if step <= pd.Timedelta(0):
        raise DataError("cannot tell the series' frequency: its timestamps do not advance")
    return pd.DatetimeIndex([index[-1] + step * k for k in range(1, horizon + 1)])
