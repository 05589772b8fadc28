"""Forecast each variable with the model retrodiction trusts most, with intervals calibrated by retrodiction.

For each variable: choose the model (selection.py), fit it on the latest
lookback of the schedule it was trusted under, forecast ``horizon`` steps
past the last observation at the variable's frequency, put 80% and 95%
intervals around the forecasts from the model's kept forecast errors
(split-conformal, analytics/intervals.py), register the fitted model, and
write one tidy row per (variable, timestamp).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics import OptimizedTrustTracker, conformal_offsets

from ..base import ConfigError, DataError, atomic_write_bytes, require_int
from ..data import open_store
from ..registry import ModelRegistry, data_fingerprint
from ..retrodiction import ForecastModel, RetrodictionSettings, parse_model_specs
from .rules import SELECTION_RULES
from .selection import Choice, choose_model

__all__ = ["ForecastReport", "ForecastSettings", "forecast_with_trusted_models", "predict_with_registered_model",
           "COLUMNS", "LEVELS"]

LEVELS = (0.8, 0.95)
COLUMNS = ["variable", "timestamp", "model", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]


@dataclass(frozen=True)
class ForecastSettings:
    """What a forecast job needs; validated before any data is read."""

    store_path: Path
    horizon: int
    output: Path
    output_dir: Path = Path("retrodiction-runs")
    variables: tuple[str, ...] = ()
    model: str | None = None  # one spec for every variable, instead of the rule
    select: str = "trust-low"
    trust_db: Path | None = None
    store_kind: str = "optimized"
    min_origins: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "store_path", Path(self.store_path))
        object.__setattr__(self, "output", Path(self.output))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "variables", tuple(self.variables))
        require_int("horizon", self.horizon, minimum=1)
        require_int("min_origins", self.min_origins, minimum=1)
        if self.select not in SELECTION_RULES:
            raise ConfigError(f"option 'select': unknown rule {self.select!r}; choose from {', '.join(SELECTION_RULES)}")
        if self.output.suffix.lower() not in (".csv", ".parquet"):
            raise ConfigError(f"output {self.output}: name a .csv or .parquet file")
        if self.model is not None:
            object.__setattr__(self, "model", parse_model_specs([self.model])[0].id)

    @property
    def trust_db_path(self) -> Path:
        return self.trust_db or self.output_dir / "trust.sqlite"


@dataclass
class ForecastReport:
    """The forecasts written, the model chosen per variable (spec, registry id), the variables skipped,
    and anything else a user should know (such as intervals left empty)."""

    frame: pd.DataFrame
    output: Path
    chosen: dict[str, tuple[str, str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def forecast_with_trusted_models(store_path: str | Path, horizon: int, output: str | Path,
                                 **options: Any) -> ForecastReport:
    """Forecast every variable (or ``variables``) with its most trusted model; see the module docstring."""
    settings = ForecastSettings(store_path=Path(store_path), horizon=horizon, output=Path(output), **options)
    if not settings.trust_db_path.is_file():
        raise ConfigError(f"no trust database at {settings.trust_db_path}: run a retrodiction first "
                          "(or pass trust_db / --trust-db)")
    store = open_store(settings.store_path, settings.store_kind)
    variables = settings.variables or store.variables
    report = ForecastReport(pd.DataFrame(columns=COLUMNS), settings.output)
    frames = []
    with OptimizedTrustTracker(settings.trust_db_path) as tracker, \
            ModelRegistry(settings.output_dir / "registry") as registry:
        estimates = tracker.estimates()
        for variable in variables:
            series = store.load(variable)
            if len(series) < 2:
                report.skipped[variable] = f"{variable} has {len(series)} observation(s); nothing to forecast from"
                continue
            values = series.to_numpy(dtype=float)
            choice = choose_model(variable, estimates, tracker.forecast_errors, horizon=settings.horizon,
                                  naive_mae=float(np.mean(np.abs(np.diff(values)))), rule=settings.select,
                                  spec=settings.model, min_origins=settings.min_origins)
            if isinstance(choice, str):
                report.skipped[variable] = choice
                continue
            frame, model_id = _forecast_one(variable, series, choice, settings, registry)
            frames.append(frame)
            report.chosen[variable] = (choice.key.spec, model_id)
    if frames:
        report.frame = pd.concat(frames, ignore_index=True)[COLUMNS]
        _write(report.frame, settings.output)
    return report


def _forecast_one(variable: str, series: pd.Series, choice: Choice, settings: ForecastSettings,
                  registry: ModelRegistry) -> tuple[pd.DataFrame, str]:
    spec = parse_model_specs([choice.key.spec])[0]
    timestamps = series.index.to_numpy(dtype="datetime64[ns]")
    values = series.to_numpy(dtype=float)
    schedule = dict(part.split("=", 1) for part in choice.key.schedule.split(","))
    lookback = RetrodictionSettings(lookback=schedule["lookback"])
    begin = lookback.training_begin(timestamps, len(values), _future_times(series.index, 1)[0].to_datetime64())
    model = spec.build().fit(values[begin:])
    entry = registry.register_model(
        model, spec, variable=variable, train_start=str(timestamps[begin]), train_end=str(timestamps[-1]),
        data_fingerprint=data_fingerprint(timestamps[begin:], values[begin:]), trust=choice.estimate,
        scores={"mase": choice.mase}, tags=["forecast"])
    return _forecast_frame(variable, series, model, spec.id, settings.horizon, choice), entry.id


def _forecast_frame(variable: str, series: pd.Series, model: ForecastModel, spec_id: str, horizon: int,
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
    return pd.DataFrame({"variable": variable, "timestamp": _future_times(series.index, horizon), "model": spec_id,
                         "forecast": point, "lo_80": point + offsets[:, 0, 0], "hi_80": point + offsets[:, 0, 1],
                         "lo_95": point + offsets[:, 1, 0], "hi_95": point + offsets[:, 1, 1]})


def predict_with_registered_model(model_id: str, store_path: str | Path, horizon: int, output: str | Path,
                                  **options: Any) -> ForecastReport:
    """Forecast from a registered model on the store's newest data, without refitting (the original
    system's predict_batch): the model's fitted state applied from the last observation.

    Intervals come from the kept errors of the same variable and spec in the
    trust database; without any, they are left empty and the report says so.
    """
    with ModelRegistry(Path(options.get("output_dir", "retrodiction-runs")) / "registry", create=False) as registry:
        entry = registry.get_model(model_id)
        model = registry.load_model(model_id)
    settings = ForecastSettings(store_path=Path(store_path), horizon=horizon, output=Path(output),
                                variables=(entry.variable,), **options)
    series = open_store(settings.store_path, settings.store_kind).load(entry.variable)
    if len(series) < model.min_history:
        raise DataError(f"{entry.variable} has {len(series)} observation(s); model {model_id} needs "
                        f"{model.min_history} to forecast from")
    choice: Choice | str = "no trust database"
    if settings.trust_db_path.is_file():
        with OptimizedTrustTracker(settings.trust_db_path) as tracker:
            choice = choose_model(entry.variable, tracker.estimates(), tracker.forecast_errors,
                                  horizon=horizon, naive_mae=1.0, spec=entry.spec_id, min_origins=1)
    report = ForecastReport(pd.DataFrame(columns=COLUMNS), settings.output, {entry.variable: (entry.spec_id, model_id)})
    if isinstance(choice, str):
        report.notes.append(f"no kept forecast errors of {entry.spec_id} on {entry.variable} for horizon {horizon} "
                            f"in {settings.trust_db_path}: the intervals are left empty")
        choice = None
    report.frame = _forecast_frame(entry.variable, series, model, entry.spec_id, horizon, choice)[COLUMNS]
    _write(report.frame, settings.output)
    return report


def _future_times(index: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The next ``horizon`` timestamps at the series' own frequency (its median step where it has none)."""
    frequency = pd.infer_freq(index[-min(len(index), 30):]) if len(index) >= 3 else None
    if frequency is not None:
        return pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
    step = pd.Timedelta(np.median(np.diff(index.to_numpy(dtype="datetime64[ns]"))))
    if step <= pd.Timedelta(0):
        raise DataError("cannot tell the series' frequency: its timestamps do not advance")
    return pd.DatetimeIndex([index[-1] + step * k for k in range(1, horizon + 1)])


def _write(frame: pd.DataFrame, output: Path) -> None:
    buffer = io.BytesIO()
    if output.suffix.lower() == ".parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(output, buffer.getvalue())


