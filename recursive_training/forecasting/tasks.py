"""The work of forecasting one group of variables, the same in this process and on a Dask worker.

Top level and free of the registry and the trust database: a worker gets
each variable's trust candidates (estimates and kept errors, read by the
coordinator), reads the series itself, chooses the model by the rule,
fits and forecasts, and hands back the fitted models; the coordinator
registers them and writes the table, so one process writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from analytics import ForecastErrors, TrustEstimate, TrustKey, conformal_offsets, recency_weights

from ..base import DataError
from ..config import schedule_lookback
from ..data import RecursiveDataStore, reopened_store
from ..registry import Registration, data_fingerprint, encode_state
from ..retrodiction import ForecastModel, RetrodictionSettings, parse_model_specs
from .selection import Choice, choose_model, contenders

__all__ = ["COLUMNS", "CalibrationErrors", "Candidates", "FittedForecast", "ForecastRows", "LEVELS", "Rule", "Skipped",
           "fit_and_forecast", "forecast_group", "forecast_rows", "forecast_table", "forecast_variable", "future_times"]

LEVELS = (0.8, 0.95)
_BOUNDS = [(f"lo_{round(level * 100)}", f"hi_{round(level * 100)}") for level in LEVELS]
COLUMNS = ["variable", "timestamp", "model", "forecast", *(name for pair in _BOUNDS for name in pair)]
_NS_PER_DAY = 86_400e9


@dataclass(frozen=True)
class Rule:
    """How each variable's model is chosen (selection.py) and forecast."""

    horizon: int
    select: str = "trust-low"
    spec: str | None = None
    min_origins: int = 20
    half_life_days: float | None = None


@dataclass(frozen=True, eq=False)
class CalibrationErrors:
    """A candidate's kept errors as a forecast of some steps needs them: each origin, and its errors at those
    steps. What travels to a worker with the candidates: the targets and counted flags of a tracker's
    ``ForecastErrors`` stayed behind unread, and were over half of the 24 MB that forecasting 1,000
    variables sent through the scheduler."""

    origins: np.ndarray
    errors: np.ndarray

    @classmethod
    def of(cls, kept: ForecastErrors, horizon: int) -> "CalibrationErrors":
        return cls(kept.origins, np.ascontiguousarray(kept.errors[:, :horizon]))


@dataclass(frozen=True, eq=False)
class Candidates:
    """A variable's trust estimates that may be chosen, each with its kept forecast errors."""

    variable: str
    options: tuple[tuple[TrustEstimate, CalibrationErrors], ...]

    @classmethod
    def of(cls, variable: str, estimates: Iterable[TrustEstimate], errors_of: Callable[[TrustKey], ForecastErrors],
           rule: Rule) -> "Candidates":
        """The candidates among ``estimates`` that ``rule`` can still choose (selection.contenders), each
        with the kept errors its forecast reads."""
        return cls(variable, tuple((estimate, CalibrationErrors.of(kept, rule.horizon)) for estimate, kept in
                                   contenders(estimates, errors_of, horizon=rule.horizon, rule=rule.select,
                                              min_origins=rule.min_origins)))


@dataclass(frozen=True, eq=False)
class ForecastRows:
    """One variable's rows of the forecast table, as arrays: what a worker sends back. A DataFrame per
    variable cost more to build, send and stack than the numbers in it; :func:`forecast_table` makes one
    table of them all at the end."""

    variable: str
    model: str
    times: np.ndarray  # (horizon,) datetime64[ns]
    point: np.ndarray  # (horizon,)
    bounds: np.ndarray  # (horizon, levels, 2): each level's lower and upper bound, NaN without kept errors


def forecast_table(rows: Sequence[ForecastRows]) -> pd.DataFrame:
    """The tidy table of ``rows``, one row per (variable, timestamp), in :data:`COLUMNS` order."""
    lengths = [len(r.point) for r in rows]
    bounds = np.concatenate([r.bounds for r in rows]) if rows else np.empty((0, len(LEVELS), 2))
    columns: dict[str, np.ndarray] = {
        "variable": np.repeat(np.array([r.variable for r in rows], dtype=object), lengths),
        "timestamp": np.concatenate([r.times for r in rows]) if rows else np.array([], dtype="datetime64[ns]"),
        "model": np.repeat(np.array([r.model for r in rows], dtype=object), lengths),
        "forecast": np.concatenate([r.point for r in rows]) if rows else np.array([]),
    }
    for level, (low, high) in enumerate(_BOUNDS):
        columns[low], columns[high] = bounds[:, level, 0], bounds[:, level, 1]
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class Skipped:
    """A variable that gets no forecast, and why (one line)."""

    variable: str
    reason: str


@dataclass(frozen=True, eq=False)
class FittedForecast:
    """One variable's forecasts and the model fitted for them, with what its registration needs.

    Sent back from a worker without the model (``model`` None), only its
    encoded state: the coordinator writes that to the registry and never has
    to import torch to take an MLP apart.
    """

    variable: str
    rows: ForecastRows
    model: ForecastModel | None
    spec: str
    train_start: str
    train_end: str
    fingerprint: str
    trust: TrustEstimate
    mase: float
    state: bytes = b""  # the model's state, encoded for the registry (registry.encode_state)

    @property
    def frame(self) -> pd.DataFrame:
        """This variable's rows of the forecast table."""
        return forecast_table([self.rows])

    def registration(self, tags: Sequence[str]) -> Registration:
        """What the registry keeps of this fit: its encoded state, span, data, trust and MASE."""
        return Registration(self.state, self.spec, self.variable, self.train_start, self.train_end,
                            self.fingerprint, self.trust, {"mase": self.mase}, tuple(tags))


def forecast_group(store_path: Path | str, store_kind: str, rule: Rule,
                   group: Sequence[Candidates]) -> list[FittedForecast | Skipped]:
    """Choose, fit and forecast each variable of ``group``, reading the store here (on the worker)."""
    store = reopened_store(store_path, store_kind)
    return [forecast_variable(store, rule, candidates) for candidates in group]


def forecast_variable(store: RecursiveDataStore, rule: Rule, candidates: Candidates, *,
                      torch: bool = True) -> FittedForecast | Skipped | None:
    """Choose, fit and forecast one variable; the fitted model comes back encoded, not as an object.

    None if the chosen model needs torch and ``torch`` is False: a process
    that has not imported torch leaves such variables to the workers.
    """
    series = store.load(candidates.variable)
    values = series.to_numpy(dtype=float)
    if len(values) < 2:
        return Skipped(candidates.variable,
                       f"{candidates.variable} has {len(values)} observation(s); nothing to forecast from")
    errors = {estimate.key: kept for estimate, kept in candidates.options}
    choice = choose_model(candidates.variable, [estimate for estimate, _ in candidates.options],
                          errors.__getitem__, horizon=rule.horizon,
                          naive_mae=float(np.mean(np.abs(np.diff(values)))), rule=rule.select, spec=rule.spec,
                          min_origins=rule.min_origins)
    if isinstance(choice, str):
        return Skipped(candidates.variable, choice)
    needs_torch = parse_model_specs([choice.key.spec])[0].entry.needs_torch
    if needs_torch and not torch:
        return None
    fitted = fit_and_forecast(candidates.variable, series, choice, rule.horizon, rule.half_life_days)
    return replace(fitted, model=None, state=encode_state(fitted.model.state(), needs_torch=needs_torch))


def fit_and_forecast(variable: str, series: pd.Series, choice: Choice, horizon: int,
                     half_life_days: float | None = None) -> FittedForecast:
    """Fit the chosen model on its schedule's latest lookback of ``series`` and forecast ``horizon`` steps
    past its end: the forecast's whole recipe, so a bench can replay it from any past origin."""
    spec = parse_model_specs([choice.key.spec])[0]
    timestamps = series.index.to_numpy(dtype="datetime64[ns]")
    values = series.to_numpy(dtype=float)
    lookback = RetrodictionSettings(lookback=schedule_lookback(choice.key.schedule))
    times = future_times(series.index, horizon)
    begin = lookback.training_begin(timestamps, len(values), times[0].to_datetime64())
    model = spec.build().fit(values[begin:])
    return FittedForecast(variable, forecast_rows(variable, series, model, spec.id, horizon, choice, half_life_days,
                                                  times),
                          model, spec.id, str(timestamps[begin]), str(timestamps[-1]),
                          data_fingerprint(timestamps[begin:], values[begin:]), choice.estimate, choice.mase)


def forecast_rows(variable: str, series: pd.Series, model: ForecastModel, spec_id: str, horizon: int,
                  choice: Choice | None, half_life_days: float | None = None,
                  times: pd.DatetimeIndex | None = None) -> ForecastRows:
    """``horizon`` forecasts from the last observation, with conformal intervals from ``choice``'s kept
    errors (none without them), weighted toward recent origins if ``half_life_days`` is given."""
    values = series.to_numpy(dtype=float)
    point = model.predict(values, np.array([len(values) - 1]), horizon)[0]
    if choice is None:
        offsets = np.full((horizon, len(LEVELS), 2), np.nan)
    else:
        weights = None if half_life_days is None else recency_weights(choice.errors.origins / _NS_PER_DAY,
                                                                      half_life_days)
        offsets = conformal_offsets(choice.errors.errors[:, :horizon], LEVELS, weights)
    times = future_times(series.index, horizon) if times is None else times
    return ForecastRows(variable, spec_id, times.to_numpy(dtype="datetime64[ns]"), point,
                        point[:, None, None] + offsets)


def future_times(index: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The next ``horizon`` timestamps at the series' own frequency (its median step where it has none)."""
    frequency = pd.infer_freq(index[-min(len(index), 30):]) if len(index) >= 3 else None
    if frequency is not None:
        return pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
    step = pd.Timedelta(np.median(np.diff(index.to_numpy(dtype="datetime64[ns]"))))
    if step <= pd.Timedelta(0):
        raise DataError("cannot tell the series' frequency: its timestamps do not advance")
    return pd.DatetimeIndex([index[-1] + step * k for k in range(1, horizon + 1)])
