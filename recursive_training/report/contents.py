"""What a run's report shows, gathered from its results file, the trust database and the store.

Kept apart from drawing so that the numbers can be tested without
matplotlib, and so that one gathering serves the HTML page and the web API.
Everything is keyed by (variable, spec) of the run's own schedule and
context: a trust database shared with other runs adds nothing foreign.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import ForecastErrors, OptimizedTrustTracker, TrustEstimate, TrustKey

from ..base import RetrodictionError, store_root
from ..forecasting.selection import Choice, choose_model
from ..records import RunResults, read_results

__all__ = ["ReportContents", "TrustRow", "gather", "MAX_PLOTTED_VARIABLES"]

MAX_PLOTTED_VARIABLES = 24  # small multiples beyond this stop being readable; the tables list every variable
HISTORY_SHOWN = 60  # observations of recent history beside a forecast


@dataclass(frozen=True)
class TrustRow:
    """One (variable, spec): its trust interval, MASE and windows scored."""

    variable: str
    spec: str
    mean: float
    low: float
    high: float
    mase: float
    windows: int


@dataclass
class ReportContents:
    """Everything the report draws; a section whose source is missing is empty and named in ``notes``."""

    run_id: str
    store: str
    period: str
    schedule: str
    context: str
    horizon: int
    trust: list[TrustRow]
    # (variable, spec) -> window starts and the running success rate after each window
    trust_over_time: dict[tuple[str, str], tuple[list[pd.Timestamp], list[float]]]
    # spec -> median over variables of (mean |error| at step k / the variable's one-step naive MAE)
    scaled_error_by_step: dict[str, list[float]] = field(default_factory=dict)
    chosen: dict[str, TrustRow] = field(default_factory=dict)  # variable -> the model forecasts would use
    not_chosen: dict[str, str] = field(default_factory=dict)  # variable -> why none
    history: dict[str, pd.Series] = field(default_factory=dict)  # recent history of plotted variables
    forecasts: dict[str, pd.DataFrame] = field(default_factory=dict)  # the forecast table's rows per variable
    notes: list[str] = field(default_factory=list)

    @property
    def variables(self) -> list[str]:
        return sorted({row.variable for row in self.trust})

    @property
    def plotted(self) -> list[str]:
        return self.variables[:MAX_PLOTTED_VARIABLES]


def gather(results: Path | RunResults, *, fans: bool = True) -> ReportContents:
    """The report's contents for a run: its results file, or the results a run just saved."""
    if not isinstance(results, RunResults):
        results = read_results(results)
    summary = results.summary
    horizon = int(results.config.get("horizon", 1))
    rows = [_trust_row(variable, spec, pair.trust, pair.scores.mase if pair.scores else math.nan,
                       pair.windows_scored)
            for variable, specs in sorted(summary.variables.items()) for spec, pair in sorted(specs.items())
            if pair.trust is not None]
    contents = ReportContents(
        run_id=summary.run_id, store=summary.store, period=f"{summary.start or '...'} to {summary.end or '...'}",
        schedule=summary.schedule, context=summary.context, horizon=horizon, trust=rows,
        trust_over_time=_trust_over_time(results))
    trust_db = Path(summary.trust_db)
    if not trust_db.is_file():
        contents.notes.append(f"trust database {trust_db} not found: no error by horizon step, model choice or "
                              "forecasts")
        return contents
    naive_mae = {(v, s): pair.scores.naive_mae for v, specs in summary.variables.items()
                 for s, pair in specs.items() if pair.scores is not None}
    with OptimizedTrustTracker(trust_db) as tracker:
        keys = [TrustKey(row.variable, row.spec, summary.schedule, summary.context) for row in rows]
        choices = _choose(contents, tracker, keys, naive_mae)
    if fans:
        _forecast(contents, results, choices)
    return contents


def _trust_row(variable: str, spec: str, trust: TrustEstimate, mase: float, windows: int) -> TrustRow:
    return TrustRow(variable, spec, trust.mean, trust.low, trust.high, mase, windows)


def _trust_over_time(results: RunResults) -> dict[tuple[str, str], tuple[list[pd.Timestamp], list[float]]]:
    """Running success rate (Beta(1, 1) posterior mean of the points so far) window by window, each
    (window, variable, spec) once, in time order, whatever order the batches finished in."""
    counts: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(dict)
    for batch in results.batches:
        if batch.result is None:
            continue
        for outcome in batch.result.outcomes:
            if outcome.score is not None:
                counts[(outcome.variable, outcome.model)].setdefault(
                    batch.result.start, [outcome.score.successes, outcome.score.failures])
    series = {}
    for pair, by_window in counts.items():
        starts = sorted(by_window)
        hits = np.cumsum([by_window[s][0] for s in starts])
        misses = np.cumsum([by_window[s][1] for s in starts])
        series[pair] = ([pd.Timestamp(s) for s in starts], list((1 + hits) / (2 + hits + misses)))
    return series


def _scaled_errors(kept: ForecastErrors, scale: float, horizon: int) -> np.ndarray | None:
    """One (variable, spec)'s mean |error| at each step up to ``horizon`` over ``scale`` (its one-step naive
    MAE); None without a scale or with fewer steps kept."""
    if not scale > 0 or kept.errors.shape[1] < horizon:
        return None
    usable = np.isfinite(kept.errors[:, :horizon])
    points = usable.sum(axis=0)
    total = np.where(usable, np.abs(kept.errors[:, :horizon]), 0.0).sum(axis=0)
    return np.where(points > 0, total / np.maximum(points, 1), np.nan) / scale


def _median_of_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else math.nan


def _choose(contents: ReportContents, tracker: OptimizedTrustTracker, keys: list[TrustKey],
            naive_mae: dict[tuple[str, str], float]) -> dict[str, Choice]:
    """The model ``forecast`` would choose now for each variable (the default rule, this run's horizon), and
    each spec's error by horizon step (``contents.scaled_error_by_step``); the choices of the plotted
    variables are returned, for their forecasts. MASE, which only breaks ties here, is scaled by the
    run's pooled naive MAE.

    One variable's forecast errors at a time, read and let go: a run of ten thousand daily variables keeps
    gigabytes of them.
    """
    by_pair = {(row.variable, row.spec): row for row in contents.trust}
    estimates: dict[str, list[TrustEstimate]] = defaultdict(list)
    for estimate in tracker.estimates(keys):
        estimates[estimate.variable].append(estimate)
    scale_of: dict[str, float] = {}  # a variable's pooled naive MAE: that of its first pair
    for (variable, _), scale in naive_mae.items():
        scale_of.setdefault(variable, scale)
    plotted, steps = set(contents.plotted), defaultdict(list)
    choices = {}
    for variable, own in itertools.groupby(keys, key=lambda key: key.variable):  # keys come variable by variable
        errors = {key.spec: tracker.forecast_errors(key) for key in own}
        for spec, kept in errors.items():
            scaled = _scaled_errors(kept, naive_mae.get((variable, spec), math.nan), contents.horizon)
            if scaled is not None:
                steps[spec].append(scaled)
        choice = choose_model(variable, estimates[variable], lambda key: errors[key.spec],
                              horizon=contents.horizon, naive_mae=scale_of.get(variable, math.nan))
        if isinstance(choice, str):
            contents.not_chosen[variable] = choice
            continue
        contents.chosen[variable] = by_pair[(variable, choice.key.spec)]
        if variable in plotted:
            choices[variable] = choice
    contents.scaled_error_by_step = {spec: [_median_of_finite(column) for column in np.vstack(rows).T]
                                     for spec, rows in sorted(steps.items())}
    return choices


def _forecast(contents: ReportContents, results: RunResults, choices: dict[str, Choice]) -> None:
    """Forecasts past the store's end for the plotted variables, made as ``forecast`` makes them."""
    from ..data import open_store
    from ..forecasting.tasks import fit_and_forecast

    try:
        store = open_store(store_root(results.summary.store), results.config.get("store_kind", "optimized"))
    except RetrodictionError as exc:
        contents.notes.append(f"no forecasts: {exc}")
        return
    for variable in contents.plotted:
        if variable not in choices:
            continue
        try:
            series = store.load(variable)
            contents.forecasts[variable] = fit_and_forecast(variable, series, choices[variable],
                                                            contents.horizon).frame
        except (RetrodictionError, ValueError, ArithmeticError) as exc:  # one model's failure spoils no report
            contents.notes.append(f"no forecast of {variable}: {exc}")
            continue
        contents.history[variable] = series.iloc[-HISTORY_SHOWN:]
