"""The run configuration: one typed, validated dataclass, from a file and flags.

A config file (TOML or YAML) holds a flat mapping whose keys are the field
names below or of :class:`RetrodictionSettings` (``-`` may stand for ``_``),
plus one ``[model.LABEL]`` section per model spec; command-line flags
override it. Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from analytics import TrustKey

from .alert_rules import AlertRules
from .base import (
    AUTO,
    ConfigError,
    available_cores,
    is_plain_name,
    require_float,
    require_int,
    resource_amounts,
    store_root,
    to_utc_naive,
)
from .cluster_settings import ClusterSettings
from .config_file import load_config_file
from .data.location import StoreLocation
from .data.store_kinds import STORE_KINDS
from .layout import DEFAULT_OUTPUT_DIR, metrics_db_in, trust_db_in
from .retrodiction import RetrodictionSettings, WindowGrid, models_from_options

# AUTO and available_cores come from base
__all__ = ["AUTO", "TrainingConfig", "available_cores", "load_config_file", "schedule_lookback"]


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a run needs; small and picklable, so it travels to workers.

    ``start``/``end`` of None mean the earliest/latest timestamp in the store;
    ``variables`` empty means every variable in the store;
    ``variables_per_batch`` None lets the coordinator choose (see planning.py);
    ``workers`` 0 runs the batches one by one in this process, without Dask;
    "auto" decides by the plan's size (see :class:`~recursive_training.execution.AutoExecutor`);
    ``min_workers`` M makes the run's own cluster adaptive, from M up to ``workers``;
    ``cluster`` says which cluster the run starts (local, or a job queue's workers);
    ``batch_limit`` N runs only the first N batches in time order.
    Windows lie on a fixed grid: ``batch_size_days`` from ``window_anchor``,
    or calendar ``window_period`` windows (month, quarter, year).
    """

    store_path: Path | str  # a local directory, or a URL (s3://bucket/prefix, gs://..., file://...)
    variables: tuple[str, ...] = ()
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    batch_size_days: float = 90.0
    window_period: str | None = None
    window_anchor: pd.Timestamp = pd.Timestamp("1970-01-01")
    variables_per_batch: int | None = None
    batch_limit: int | None = None
    store_kind: str = "optimized"
    storage_options: Mapping[str, Any] = field(default_factory=dict)  # pyarrow's, for a store at a URL
    retrodiction: RetrodictionSettings = field(default_factory=RetrodictionSettings)
    workers: int | str = AUTO  # or a count; 0 runs in this process
    min_workers: int | None = None
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    threads_per_worker: int = 1
    resources: Mapping[str, float] = field(default_factory=dict)  # what a batch needs of its worker (Dask's)
    priority: int = 0  # on a shared scheduler, batches of a higher priority run first
    alerts: AlertRules = field(default_factory=AlertRules)
    scheduler_address: str | None = None
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8787
    worker_profiling: bool = False
    report: bool = True  # write RUN_DIR/report.html at the end
    output_dir: Path = DEFAULT_OUTPUT_DIR
    run_id: str | None = None
    output: Path | None = None
    trust_db: Path | None = None
    metrics_db: Path | None = None
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    decay_half_life_days: float | None = None
    retries: int = 2
    batch_timeout_seconds: float | None = 3600.0
    resume: bool = False
    repair: bool = False
    force: bool = False
    tls_ca_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("store_path", store_root(self.store_path))
        set_("storage_options", self.store_location.storage_options)  # checked there
        set_("output_dir", Path(self.output_dir))
        for name in ("output", "trust_db", "metrics_db", "tls_ca_file", "tls_cert", "tls_key"):
            if getattr(self, name) is not None:
                set_(name, Path(getattr(self, name)))
        set_("variables", _as_tuple("variables", self.variables))
        for name in ("start", "end"):
            if getattr(self, name) is not None:
                set_(name, to_utc_naive(getattr(self, name), name))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ConfigError(f"option 'start' ({self.start}) must be before 'end' ({self.end})")
        require_float("batch_size_days", self.batch_size_days, minimum=0.0, inclusive=False)
        set_("window_anchor", to_utc_naive(self.window_anchor, "window_anchor"))
        self.window_grid  # validates the period
        for name in ("variables_per_batch", "batch_limit"):
            if getattr(self, name) is not None:
                require_int(name, getattr(self, name), minimum=1)
        if self.store_kind not in STORE_KINDS:
            raise ConfigError(f"option 'store_kind': unknown {self.store_kind!r}; choose from {', '.join(STORE_KINDS)}")
        if not isinstance(self.retrodiction, RetrodictionSettings):
            raise ConfigError("option 'retrodiction' must be RetrodictionSettings")
        if self.workers != AUTO:
            require_int("workers", self.workers, minimum=0)  # 0: run batches in this process
        set_("cluster", ClusterSettings.from_value(self.cluster))
        self._check_cluster()
        require_int("threads_per_worker", self.threads_per_worker, minimum=1)
        set_("resources", resource_amounts("resources", self.resources))
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ConfigError(f"option 'priority' must be a whole number, got {self.priority!r}")
        require_int("dashboard_port", self.dashboard_port, minimum=0)
        if self.dashboard_port > 65535:
            raise ConfigError(f"option 'dashboard_port' must be at most 65535, got {self.dashboard_port}")
        require_float("prior_alpha", self.prior_alpha, minimum=0.0, inclusive=False)
        require_float("prior_beta", self.prior_beta, minimum=0.0, inclusive=False)
        if self.decay_half_life_days is not None:
            require_float("decay_half_life_days", self.decay_half_life_days, minimum=0.0, inclusive=False)
        require_int("retries", self.retries, minimum=0)
        if self.batch_timeout_seconds is not None:
            require_float("batch_timeout_seconds", self.batch_timeout_seconds, minimum=0.0, inclusive=False)
        self._check_tls()
        set_("alerts", AlertRules.from_value(self.alerts))
        specs = {spec.id for spec in self.retrodiction.models}
        for watch in self.alerts.trust:
            if watch.model not in specs:
                raise ConfigError(f"option 'alerts.trust': model {watch.model!r} is not one of this run's models "
                                  f"({', '.join(sorted(specs))})")
        for name in ("resume", "worker_profiling", "force", "repair", "report"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"option '{name}' must be true or false, got {getattr(self, name)!r}")
        if self.run_id is not None and not is_plain_name(self.run_id):
            raise ConfigError(f"option 'run_id' {self.run_id!r} must be a plain name")

    def _check_cluster(self) -> None:
        """Adaptive bounds and job queues apply to a cluster the run starts itself."""
        kind = self.cluster.kind
        if self.scheduler_address and (self.cluster.job_queue or self.min_workers is not None):
            what = f"a {kind} cluster" if self.cluster.job_queue else "min_workers"
            raise ConfigError(f"{what} and a scheduler address exclude each other: the scheduler's own "
                              "cluster decides its workers")
        if self.cluster.job_queue and self.workers == AUTO:
            raise ConfigError(f"a {kind} cluster needs its size: --workers N, or --min-workers M with "
                              "--max-workers N")
        if self.min_workers is None:
            return
        require_int("min_workers", self.min_workers, minimum=0)
        if self.workers == 0:
            raise ConfigError("min_workers needs a cluster, but workers 0 runs in this process")
        if self.min_workers > self.max_workers:
            raise ConfigError(f"min_workers ({self.min_workers}) must be at most the maximum, "
                              f"workers ({self.max_workers})")

    @property
    def max_workers(self) -> int:
        """The most workers the run's own cluster has (auto: one per core)."""
        return available_cores() if self.workers == AUTO else int(self.workers)

    @property
    def worker_range(self) -> tuple[int, int]:
        """The fewest and most workers of the run's own cluster: equal unless it adapts."""
        return (self.max_workers if self.min_workers is None else self.min_workers), self.max_workers

    def _check_tls(self) -> None:
        given = {n: getattr(self, n) for n in ("tls_ca_file", "tls_cert", "tls_key") if getattr(self, n)}
        if not given:
            if (self.scheduler_address or "").startswith("tls://"):
                raise ConfigError(f"scheduler {self.scheduler_address} speaks TLS: give tls_ca_file, "
                                  "tls_cert and tls_key (--tls-ca-file, --tls-cert, --tls-key)")
            return
        if len(given) < 3:
            missing = sorted({"tls_ca_file", "tls_cert", "tls_key"} - set(given))
            raise ConfigError(f"TLS needs tls_ca_file, tls_cert and tls_key together; missing {', '.join(missing)}")
        if not self.scheduler_address:
            raise ConfigError("TLS options apply to a remote scheduler; give 'scheduler_address' too")
        for name, path in given.items():
            if not path.is_file():
                raise ConfigError(f"option '{name}': no such file {path}")

    @property
    def store_location(self) -> StoreLocation:
        return StoreLocation.of(self.store_path, self.storage_options)

    @property
    def uses_tls(self) -> bool:
        return self.tls_ca_file is not None

    # derived -----------------------------------------------------------------
    @property
    def window_grid(self) -> WindowGrid:
        return WindowGrid(days=self.batch_size_days, period=self.window_period, anchor=self.window_anchor)

    @property
    def schedule_id(self) -> str:
        """How a model is trained for each window: part of what trust judges."""
        settings = self.retrodiction
        return f"window={self.window_grid.id},lookback={settings.lookback},refit_every={settings.refit_every}"

    def trust_key(self, variable: str, spec: str) -> TrustKey:
        """Where this run's evidence for ``spec`` on ``variable`` counts: its schedule and scoring context."""
        return TrustKey(variable, spec, self.schedule_id, self.retrodiction.context_id)

    def procedure(self) -> dict[str, Any]:
        """Everything besides the model specs that changes a forecast or its scoring.

        A resumed run must match it option by option; each value names its option.
        """
        settings = self.retrodiction
        return {"store_path": self.store_location.identity, "batch_size_days": self.batch_size_days,
                "window_period": self.window_period, "window_anchor": self.window_anchor.isoformat(),
                "lookback": settings.lookback, "refit_every": settings.refit_every, "horizon": settings.horizon,
                "step": settings.step, "tolerance": settings.tolerance}

    def procedure_digest(self) -> str:
        return hashlib.sha1(json.dumps(self.procedure(), sort_keys=True).encode()).hexdigest()[:12]

    def resolved_run_id(self) -> str:
        """Named by the range and the procedure, not the models: adding a model resumes the same run."""
        if self.run_id:
            return self.run_id
        span = "-".join(f"{t:%Y%m%d}" if t is not None else "all" for t in (self.start, self.end))
        return f"run-{span}-{self.procedure_digest()[:6]}"

    @property
    def run_dir(self) -> Path:
        return self.output_dir / self.resolved_run_id()

    @property
    def results_path(self) -> Path:
        return self.output or self.run_dir / "results.json"

    @property
    def trust_db_path(self) -> Path:
        return self.trust_db or trust_db_in(self.output_dir)

    @property
    def metrics_db_path(self) -> Path:
        return self.metrics_db or metrics_db_in(self.output_dir)

    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready mapping that :meth:`from_mapping` reads back."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "retrodiction"}
        flat.update({f.name: getattr(self.retrodiction, f.name) for f in dataclasses.fields(self.retrodiction)})
        flat["models"] = [spec.explicit for spec in self.retrodiction.models]
        flat["cluster"] = self.cluster.to_dict()
        flat["storage_options"] = dict(self.storage_options)
        flat["resources"] = dict(self.resources)
        flat["alerts"] = self.alerts.to_dict()
        return {k: _jsonable(v) for k, v in flat.items()}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TrainingConfig":
        """Build from flat keys (file and flags merged); unknown keys are errors."""
        own = {f.name for f in dataclasses.fields(cls)} - {"retrodiction"}
        settings_keys = set(RetrodictionSettings.field_names())
        top: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        sections: Any = None
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key == "model":  # [model.LABEL] sections, one per spec
                sections = value
            elif key in own:
                top[key] = value
            elif key in settings_keys:
                settings[key] = value
            else:
                known = ", ".join(sorted(own | settings_keys))
                raise ConfigError(f"unknown option {raw_key!r} (known options: {known})")
        if "store_path" not in top:
            raise ConfigError("option 'store_path' is required (the data store directory)")
        if "models" in settings or sections:
            settings["models"] = models_from_options(settings.get("models", ()), sections)
        return cls(retrodiction=RetrodictionSettings(**settings), **top)


def _as_tuple(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"option '{name}' must be a list of names or a comma-separated string")
    return tuple(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def schedule_lookback(schedule_id: str) -> str:
    """The lookback a :attr:`TrainingConfig.schedule_id` names: what a forecast trains on, read back here,
    beside the one place that writes it."""
    return dict(part.split("=", 1) for part in schedule_id.split(","))["lookback"]
