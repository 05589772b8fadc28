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

from analytics import conformal_offsets

from ..base import DataError
from ..data import open_store
from ..registry import data_fingerprint
from ..retrodiction import ForecastModel, RetrodictionSettings, parse_model_specs
from .selection import Choice

__all__ = ["FittedForecast", "LEVELS", "forecast_frame", "forecast_group", "future_times"]

LEVELS = (0.8, 0.95)


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


def forecast_group(store_path: Path, store_kind: str, horizon: int,
                   choices: Sequence[tuple[str, Choice]]) -> list[FittedForecast]:
    """Fit each chosen model on its schedule's latest lookback and forecast ``horizon`` steps past the end."""
    store = open_store(store_path, store_kind)
    done = []
    for variable, choice in choices:
        series = store.load(variable)
        spec = parse_model_specs([choice.key.spec])[0]
        timestamps = series.index.to_numpy(dtype="datetime64[ns]")
        values = series.to_numpy(dtype=float)
        schedule = dict(part.split("=", 1) for part in choice.key.schedule.split(","))
        lookback = RetrodictionSettings(lookback=schedule["lookback"])
        begin = lookback.training_begin(timestamps, len(values), future_times(series.index, 1)[0].to_datetime64())
        model = spec.build().fit(values[begin:])
        done.append(FittedForecast(variable, forecast_frame(variable, series, model, spec.id, horizon, choice),
                                   model, spec.id, str(timestamps[begin]), str(timestamps[-1]),
                                   data_fingerprint(timestamps[begin:], values[begin:])))
    return done


def forecast_frame(variable: str, series: pd.Series, model: ForecastModel, spec_id: str, horizon: int,
                   choice: Choice | None) -> pd.DataFrame:
    """``horizon`` forecasts from the last observation, with conformal intervals from ``choice``'s kept
    errors (none without them)."""
    values = series.to_numpy(dtype=float)
    point = model.predict(values, np.array([len(values) - 1]), horizon)[0]
    if choice is None:
        offsets = np.full((horizon, len(LEVELS), 2), np.nan)
    else:
        offsets = conformal_offsets(np.where(choice.errors.counted, choice.errors.errors, np.nan)[:, :horizon],
                                    LEVELS)
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
