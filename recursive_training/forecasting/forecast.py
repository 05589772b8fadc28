"""Forecast each variable with the model retrodiction trusts most, with intervals calibrated by retrodiction.

For each variable: choose the model (selection.py), fit it on the latest
lookback of the schedule it was trusted under, forecast ``horizon`` steps
past the last observation at the variable's frequency, put 80% and 95%
intervals around the forecasts from the model's kept forecast errors
(split-conformal, analytics/intervals.py), register the fitted model, and
write one tidy row per (variable, timestamp). The choosing and fitting run
where a retrodiction runs (tasks.py): in this process, on a local cluster,
on a running scheduler or on a given client; reading the trust database,
registering and writing happen in this process.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from analytics import OptimizedTrustTracker, TrustKey

from ..base import (
    BackgroundStart,
    ConfigError,
    DataError,
    UnknownVariableError,
    atomic_write_bytes,
    require_float,
    require_int,
    store_root,
)
from ..data import open_store
from ..layout import DEFAULT_OUTPUT_DIR, registry_in, trust_db_in
from ..registry import ModelRegistry
from ..retrodiction import parse_model_specs
from .rules import SELECTION_RULES
from .selection import Choice, choose_model
from .tasks import (
    COLUMNS,
    LEVELS,
    Candidates,
    FittedForecast,
    ForecastRows,
    Rule,
    Skipped,
    forecast_group,
    forecast_rows,
    forecast_table,
    forecast_variable,
)

__all__ = ["ForecastReport", "ForecastSettings", "forecast_with_trusted_models", "predict_with_registered_model",
           "COLUMNS", "LEVELS"]

Progress = Callable[[int, int, Any], None]  # (variables done, variables, the group just done or None)
_LOCAL_GROUP = 50  # variables per group at most: read from the trust database, then fitted, at a time


@dataclass(frozen=True)
class ForecastSettings:
    """What a forecast job needs; validated before any data is read."""

    store_path: Path | str  # a local directory or a URL
    horizon: int
    output: Path
    output_dir: Path = DEFAULT_OUTPUT_DIR
    variables: tuple[str, ...] = ()
    model: str | None = None  # one spec for every variable, instead of the rule
    select: str = "trust-low"
    trust_db: Path | None = None
    store_kind: str = "optimized"
    min_origins: int = 20
    interval_half_life_days: float | None = None  # weigh kept errors toward recent origins
    workers: int = 0  # 0: in this process; N: a local cluster of N workers
    scheduler_address: str | None = None  # a running Dask scheduler instead
    dashboard_port: int = 8787

    def __post_init__(self) -> None:
        object.__setattr__(self, "store_path", store_root(self.store_path))
        object.__setattr__(self, "output", Path(self.output))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "variables", tuple(self.variables))
        require_int("horizon", self.horizon, minimum=1)
        require_int("min_origins", self.min_origins, minimum=1)
        require_int("workers", self.workers, minimum=0)
        if self.interval_half_life_days is not None:
            require_float("interval_half_life_days", self.interval_half_life_days, minimum=0.0, inclusive=False)
        if self.select not in SELECTION_RULES:
            raise ConfigError(f"option 'select': unknown rule {self.select!r}; "
                              f"choose from {', '.join(SELECTION_RULES)}")
        if self.output.suffix.lower() not in (".csv", ".parquet"):
            raise ConfigError(f"output {self.output}: name a .csv or .parquet file")
        if self.model is not None:
            object.__setattr__(self, "model", parse_model_specs([self.model])[0].id)

    @property
    def trust_db_path(self) -> Path:
        return self.trust_db or trust_db_in(self.output_dir)


@dataclass
class ForecastReport:
    """The forecasts written, the model chosen per variable (spec, registry id), the variables skipped,
    and anything else a user should know (such as intervals left empty)."""

    frame: pd.DataFrame
    output: Path
    chosen: dict[str, tuple[str, str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def forecast_with_trusted_models(store_path: str | Path, horizon: int, output: str | Path, *, client: Any = None,
                                 progress: Progress | None = None, **options: Any) -> ForecastReport:
    """Forecast every variable (or ``variables``) with its most trusted model; see the module docstring.

    The choosing and fitting run in this process (``workers=0``, the
    default), on a local cluster (``workers=N``), on a running scheduler
    (``scheduler_address``) or on a given ``client``, one task per group of
    variables; here the trust database is read, and each finished group's
    models are registered while the rest still run, and the table written.
    ``progress`` is called as ``(variables done, variables, group or None)``
    at the start and as each group is registered (a ``ProgressBar`` draws it).
    """
    settings = ForecastSettings(store_path=store_path, horizon=horizon, output=Path(output), **options)
    if not settings.trust_db_path.is_file():
        raise ConfigError(f"no trust database at {settings.trust_db_path}: run a retrodiction first "
                          "(or pass trust_db / --trust-db)")
    known = open_store(settings.store_path, settings.store_kind).variables
    held = set(known)
    unknown = [v for v in settings.variables if v not in held]
    if unknown:
        raise UnknownVariableError(f"the store {settings.store_path} has no variable "
                                   f"{', '.join(map(repr, unknown[:5]))}")
    variables = list(settings.variables or known)
    rule = Rule(settings.horizon, settings.select, settings.model, settings.min_origins,
                settings.interval_half_life_days)
    report = ForecastReport(pd.DataFrame(columns=COLUMNS), settings.output)
    made: dict[str, ForecastRows] = {}
    with OptimizedTrustTracker(settings.trust_db_path) as tracker, \
            ModelRegistry(registry_in(settings.output_dir)) as registry:
        keys: dict[str, list[TrustKey]] = defaultdict(list)
        for key in tracker.keys():
            if settings.model is None or key.spec == settings.model:
                keys[key.variable].append(key)

        def candidates(group: list[str]) -> list[Candidates]:
            """Read for one group at a time, so the first group goes out before the last is read."""
            wanted = [key for variable in group for key in keys[variable]]
            trusted = {e.key: e for e in tracker.estimates(wanted, steps=False)}
            return [Candidates.of(v, [trusted[k] for k in keys[v] if k in trusted], tracker.forecast_errors, rule)
                    for v in group]

        specs = tuple(dict.fromkeys(key.spec for variable in variables for key in keys[variable]))
        done_count = 0
        progress = progress or (lambda done, total, group: None)
        progress(done_count, len(variables), None)
        for group in _groups_done(settings, rule, variables, candidates, specs, client, report.notes.append):
            fitted = [done for done in group if isinstance(done, FittedForecast)]
            report.skipped.update((done.variable, done.reason) for done in group if isinstance(done, Skipped))
            entries = registry.register_many([done.registration(["forecast"]) for done in fitted])
            for done, entry in zip(fitted, entries, strict=True):
                report.chosen[done.variable] = (done.spec, entry.id)
                made[done.variable] = done.rows
            done_count += len(group)
            progress(done_count, len(variables), group)
    if made:
        report.chosen = {v: report.chosen[v] for v in variables if v in report.chosen}
        report.skipped = {v: report.skipped[v] for v in variables if v in report.skipped}
        report.frame = forecast_table([made[v] for v in variables if v in made])
        _write(report.frame, settings.output)
    return report


def _groups_done(settings: ForecastSettings, rule: Rule, variables: list[str],
                 candidates: Callable[[list[str]], list[Candidates]], specs: tuple[str, ...],
                 client: Any, note: Callable[[str], None]) -> Iterator[list[FittedForecast | Skipped]]:
    """``forecast_group`` over ``variables``, each group as it finishes: here one after another, or as Dask
    tasks, submitted as their candidates are read, so the workers start on the first at once. While our
    own cluster starts, its first variables are forecast here (the cluster gets the rest)."""
    from ..retrodiction import RetrodictionSettings
    from ..worker_task import as_on_a_worker

    models = specs or ("naive",)  # a cluster warms up for the models it may fit; naive needs nothing

    if settings.workers == 0 and settings.scheduler_address is None and client is None:
        with as_on_a_worker(RetrodictionSettings(models=models)):
            for at in range(0, len(variables), _LOCAL_GROUP):
                yield forecast_group(settings.store_path, settings.store_kind, rule,
                                     candidates(variables[at:at + _LOCAL_GROUP]))
        return
    from distributed import as_completed

    from ..cluster import connect, disconnect, main_script_hidden
    from ..config import TrainingConfig
    from ..fork_server import start_fork_server

    config = TrainingConfig.from_mapping({
        "store_path": settings.store_path, "store_kind": settings.store_kind, "models": models,
        "workers": settings.workers or 1, "scheduler_address": settings.scheduler_address,
        "dashboard_port": settings.dashboard_port, "output_dir": settings.output_dir})

    def read_ahead(reader: ThreadPoolExecutor, slots: int) -> list[Future]:
        # about sixteen groups per task slot, so the last ones end close together; none over _LOCAL_GROUP
        size = min(_LOCAL_GROUP, max(1, -(-len(variables) // (16 * max(1, slots)))))
        return [reader.submit(candidates, variables[at:at + size]) for at in range(0, len(variables), size)]

    own = client is None and settings.scheduler_address is None
    reader = ThreadPoolExecutor(1, thread_name_prefix="trust-reader")  # reads while the cluster comes up
    starting: BackgroundStart | None = None
    connection = None
    try:
        with main_script_hidden():
            pending: deque[Future | list[Candidates]] = deque()
            here: list[FittedForecast | Skipped] = []
            if own:  # our workers fork from a server that imports torch first: read and forecast meanwhile
                start_fork_server(config.retrodiction.needs_torch)
                pending.extend(read_ahead(reader, config.workers))
                starting = BackgroundStart(lambda: connect(config), name="start-cluster")
                _forecast_while_starting(settings, rule, models, pending, here, starting)
                connection = starting.result()
            else:
                connection = connect(config, client)
                pending.extend(read_ahead(reader, connection.slots))
            if here:
                note(f"{len(here)} of {len(variables)} variables forecast in this process while the cluster started")
                yield here
            futures = [connection.client.submit(forecast_group, settings.store_path, settings.store_kind, rule,
                                                group if isinstance(group, list) else group.result(), pure=False)
                       for group in pending]
            for future in as_completed(futures):
                yield future.result()
    finally:
        reader.shutdown(cancel_futures=True)
        if connection is None and starting is not None:
            with contextlib.suppress(Exception):  # the start's own failure is already on its way up
                connection = starting.result()
        if connection is not None and client is None:
            disconnect(connection.client, connection.cluster)


def _forecast_while_starting(settings: ForecastSettings, rule: Rule, models: tuple[str, ...],
                             pending: deque[Future | list[Candidates]], here: list[FittedForecast | Skipped],
                             starting: BackgroundStart) -> None:
    """Forecast variables of the first pending groups here, one at a time, until the cluster is ready;
    what is left goes back to the front of ``pending``, so each variable is forecast once.

    Models that need torch are fitted here only if torch is already imported:
    importing it here would take as long as the cluster's start on 2 cores
    and slow the scheduler's start in this process (as for ``run``).
    """
    from ..retrodiction import RetrodictionSettings
    from ..worker_task import as_on_a_worker

    store = open_store(settings.store_path, settings.store_kind)
    torch = "torch" in sys.modules
    returned: list[list[Candidates]] = []  # each group's variables left for the cluster
    with as_on_a_worker(RetrodictionSettings(models=models if torch else ("naive",))):
        while pending and not starting.done:
            group = pending.popleft()
            group = group if isinstance(group, list) else group.result()
            left = []
            for at, candidates in enumerate(group):
                if starting.done:
                    left.extend(group[at:])
                    break
                done = forecast_variable(store, rule, candidates, torch=torch)
                if done is None:
                    left.append(candidates)
                else:
                    here.append(done)
            if left:
                returned.append(left)
    pending.extendleft(reversed(returned))


def predict_with_registered_model(model_id: str, store_path: str | Path, horizon: int, output: str | Path,
                                  **options: Any) -> ForecastReport:
    """Forecast from a registered model on the store's newest data, without refitting (the original
    system's predict_batch): the model's fitted state applied from the last observation.

    Intervals come from the kept errors of the same variable and spec in the
    trust database; without any, they are left empty and the report says so.
    """
    with ModelRegistry(registry_in(options.get("output_dir", DEFAULT_OUTPUT_DIR)), create=False) as registry:
        entry = registry.get_model(model_id)
        model = registry.load_model(model_id)
    settings = ForecastSettings(store_path=store_path, horizon=horizon, output=Path(output),
                                variables=(entry.variable,), **options)
    series = open_store(settings.store_path, settings.store_kind).load(entry.variable)
    if len(series) < model.min_history:
        raise DataError(f"{entry.variable} has {len(series)} observation(s); model {model_id} needs "
                        f"{model.min_history} to forecast from")
    choice: Choice | str = "no trust database"
    if settings.trust_db_path.is_file():
        with OptimizedTrustTracker(settings.trust_db_path) as tracker:
            # only the errors are wanted here; MASE just breaks ties, and any one scale orders them alike
            estimates = tracker.estimates(tracker.keys(variable=entry.variable, spec=entry.spec_id))
            choice = choose_model(entry.variable, estimates, tracker.forecast_errors,
                                  horizon=horizon, naive_mae=1.0, spec=entry.spec_id, min_origins=1)
    report = ForecastReport(pd.DataFrame(columns=COLUMNS), settings.output, {entry.variable: (entry.spec_id, model_id)})
    if isinstance(choice, str):
        report.notes.append(f"no kept forecast errors of {entry.spec_id} on {entry.variable} for horizon {horizon} "
                            f"in {settings.trust_db_path}: the intervals are left empty")
        choice = None
    report.frame = forecast_table([forecast_rows(entry.variable, series, model, entry.spec_id, horizon, choice,
                                                 settings.interval_half_life_days)])
    _write(report.frame, settings.output)
    return report


def _write(frame: pd.DataFrame, output: Path) -> None:
    buffer = io.BytesIO()
    if output.suffix.lower() == ".parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(output, buffer.getvalue())
