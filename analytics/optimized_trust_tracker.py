"""Bayesian trust per (variable, model spec, schedule, scoring context), kept as an evidence ledger.

The database stores evidence, never totals: one row per (key, origin) with
the success of each horizon step. Applying evidence is one transaction of
``INSERT OR IGNORE``, so a forecast already stored is skipped, concurrent
runs add to each other instead of overwriting, and the result never depends
on batching, retries, resumes or overlapping runs. Trust is computed from
the ledger when it is read: the Beta posterior with prior (α₀, β₀) over the
points that are new evidence (see :mod:`analytics.posterior` for the
interval), optionally with evidence discounted by its target's age relative
to the key's newest target, which does not depend on the order of arrival.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from recursive_training.base import TrustError, open_database

from .evidence import EvidenceBlock, TrustKey, unpack_bits
from .posterior import beta_interval, dependent_posterior, dependent_posteriors

__all__ = ["ForecastErrors", "OptimizedTrustTracker", "TrustEstimate", "StepTrust", "SCHEMA_VERSION"]

SCHEMA_VERSION = "3"  # 1: totals per (variable, model) and applied batch ids; 2: no errors column
NS_PER_DAY = 86_400e9
BUSY_TIMEOUT_SECONDS = 120.0  # how long a writer waits for another run's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trust_keys (
    key_id INTEGER PRIMARY KEY, variable TEXT NOT NULL, spec TEXT NOT NULL, schedule TEXT NOT NULL,
    context TEXT NOT NULL, horizon INTEGER NOT NULL, UNIQUE (variable, spec, schedule, context));
CREATE TABLE IF NOT EXISTS evidence (
    key_id INTEGER NOT NULL, origin INTEGER NOT NULL, grid_window INTEGER NOT NULL,
    success BLOB NOT NULL, counted BLOB NOT NULL, targets BLOB NOT NULL, errors BLOB,
    PRIMARY KEY (key_id, origin)) WITHOUT ROWID;
"""


@dataclass(frozen=True, eq=False)
class ForecastErrors:
    """A key's stored forecast errors (forecast minus actual) by origin and horizon step, oldest first.

    NaN where the evidence predates kept errors; ``counted`` marks the points
    that are new evidence (a repeated (target, forecast) pair counts once).
    """

    key: TrustKey
    origins: np.ndarray  # (n,) int64 ns since 1970
    targets: np.ndarray  # (n, horizon) int64 ns since 1970
    errors: np.ndarray  # (n, horizon) float64
    counted: np.ndarray  # (n, horizon) bool


@dataclass(frozen=True)
class StepTrust:
    """Trust at one horizon step (every point of that step; no pair repeats within a step)."""

    step: int
    mean: float
    low: float
    high: float
    successes: int
    failures: int


@dataclass(frozen=True)
class TrustEstimate:
    """The posterior of one key: mean (the headline), 95% credible interval and evidence counts.

    ``successes`` and ``failures`` count the points that are new evidence
    (repeated (target, forecast) pairs once); ``alpha`` and ``beta`` are
    after decay and the design effect.
    """

    key: TrustKey
    mean: float
    low: float
    high: float
    alpha: float
    beta: float
    successes: int
    failures: int
    origins: int
    windows: int
    design_effect: float
    steps: tuple[StepTrust, ...]

    @property
    def variable(self) -> str:
        return self.key.variable

    @property
    def spec(self) -> str:
        return self.key.spec

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        data.update(asdict(self.key))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrustEstimate":
        """The inverse of :meth:`to_dict`, for results read back from JSON."""
        fields = dict(data)
        key = TrustKey(*(fields.pop(name) for name in ("variable", "spec", "schedule", "context")))
        steps = tuple(StepTrust(**step) for step in fields.pop("steps"))
        return cls(key=key, steps=steps, **fields)


class OptimizedTrustTracker:
    """The ledger in SQLite; ``db_path=None`` keeps it in memory (tests, one-off runs).

    Any number of trackers, in any processes, may share one file.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        decay_half_life_days: float | None = None,
    ) -> None:
        if not (prior_alpha > 0 and prior_beta > 0):
            raise TrustError(f"trust prior must be positive, got ({prior_alpha}, {prior_beta})")
        if decay_half_life_days is not None and not decay_half_life_days > 0:
            raise TrustError(f"decay half-life must be positive, got {decay_half_life_days}")
        self.prior_alpha, self.prior_beta = float(prior_alpha), float(prior_beta)
        self.decay_half_life_days = decay_half_life_days
        self._kappa = math.log(2) / decay_half_life_days if decay_half_life_days else 0.0
        self.path = None if db_path is None else Path(db_path)
        self._lock = threading.Lock()
        self._db = self._open()
        self._key_ids: dict[TrustKey, int] = {}

    # opening -----------------------------------------------------------------
    @property
    def _name(self) -> str:
        return "trust database " + (":memory:" if self.path is None else str(self.path))

    def _open(self) -> sqlite3.Connection:
        if self.path is not None and not self.path.exists():
            self._create_file()
        if self.path is not None and self.path.stat().st_size == 0:
            raise TrustError(f"{self._name} is empty (0 bytes), not a trust database; "
                             "move it aside or choose another --trust-db (earlier trust is not reset silently)")
        db = open_database(self.path, "" if self.path is not None else _SCHEMA, what="trust database",
                           error=TrustError, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            if self.path is None:
                with db:
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = dict(db.execute("SELECT key, value FROM meta")).get("schema_version") if "meta" in tables \
                else None
        except sqlite3.Error as exc:
            db.close()
            raise TrustError(f"{self._name} cannot be read ({exc}); it is damaged or not a trust database") from None
        if version == "2":
            version = self._add_errors_column(db)
        if version != SCHEMA_VERSION:
            db.close()
            if {"trust", "applied"} <= tables:
                raise TrustError(
                    f"{self._name} was written by an older version (totals per batch id, which cannot tell "
                    "which forecasts they counted, so they cannot be converted); move it aside to keep it, "
                    "and rerun to rebuild trust")
            found = f"schema version {version}" if version else f"tables {', '.join(sorted(tables)) or 'none'}"
            raise TrustError(f"{self._name} is not a trust database of this version ({found})")
        return db

    def _add_errors_column(self, db: sqlite3.Connection) -> str | None:
        """Version 2 kept no forecast errors: add the column (empty for the evidence already there, which a
        rerun fills in) in one transaction, which another process may have done first."""
        try:
            db.execute("BEGIN IMMEDIATE")
            version = dict(db.execute("SELECT key, value FROM meta")).get("schema_version")
            if version == "2":
                db.execute("ALTER TABLE evidence ADD COLUMN errors BLOB")
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
            db.commit()
        except sqlite3.Error as exc:
            db.rollback()
            db.close()
            raise TrustError(f"{self._name}: cannot add the forecast errors column ({exc})") from None
        return version

    def _create_file(self) -> None:
        """Build the schema in a private file and link it into place, so a reader never sees a
        half-made database and two runs creating it at once both end with the same one."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            db = sqlite3.connect(private)
            with db:
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            db.close()
            try:
                os.link(private, self.path)
            except FileExistsError:
                pass  # another run made it first
        except (OSError, sqlite3.Error) as exc:
            raise TrustError(f"{self._name}: cannot create ({exc})") from None
        finally:
            private.unlink(missing_ok=True)

    # writing -----------------------------------------------------------------
    def apply(self, blocks: Iterable[EvidenceBlock]) -> int:
        """Add the evidence not stored before, in one transaction; return how many origins were new."""
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                rows = []
                for block in blocks:
                    key_id = self._key_id(block.key, block.horizon)
                    success = np.packbits(block.success, axis=1)
                    counted = np.packbits(block.counted, axis=1)
                    targets = np.ascontiguousarray(block.targets, dtype=np.int64)
                    errors = None if block.errors is None else np.ascontiguousarray(block.errors, dtype="<f8")
                    rows.extend((key_id, int(o), block.window, success[i].tobytes(), counted[i].tobytes(),
                                 targets[i].tobytes(), None if errors is None else errors[i].tobytes())
                                for i, o in enumerate(block.origins))
                before = self._db.total_changes
                self._db.executemany("INSERT OR IGNORE INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                added = self._db.total_changes - before
                # evidence kept before errors were: the same forecasts' errors fill it in, nothing else changes
                # (only rows that were there already can lack them: when every row was new, there are none)
                if added < len(rows):
                    self._db.executemany("UPDATE evidence SET errors = ? WHERE key_id = ? AND origin = ? "
                                         "AND errors IS NULL", [(r[6], r[0], r[1]) for r in rows if r[6] is not None])
                self._db.commit()
            except sqlite3.Error as exc:
                self._db.rollback()
                self._key_ids.clear()  # ids made in the rolled-back transaction are gone
                raise TrustError(f"{self._name}: cannot save evidence ({exc})") from None
            return added

    def _key_id(self, key: TrustKey, horizon: int) -> int:
        if key not in self._key_ids:
            self._db.execute("INSERT OR IGNORE INTO trust_keys (variable, spec, schedule, context, horizon) "
                             "VALUES (?, ?, ?, ?, ?)", (key.variable, key.spec, key.schedule, key.context, horizon))
            self._key_ids[key] = self._db.execute(
                "SELECT key_id FROM trust_keys WHERE variable = ? AND spec = ? AND schedule = ? AND context = ?",
                (key.variable, key.spec, key.schedule, key.context)).fetchone()[0]
        return self._key_ids[key]

    # reading -----------------------------------------------------------------
    def keys(self) -> list[TrustKey]:
        with self._lock:
            return sorted(TrustKey(*r) for r in self._db.execute(
                "SELECT variable, spec, schedule, context FROM trust_keys"))

    def estimates(self, keys: Iterable[TrustKey] | None = None, *, steps: bool = True) -> list[TrustEstimate]:
        """Posterior of every key (or of ``keys``), sorted by key; keys without evidence are left out.

        ``steps=False`` leaves out the trust per horizon step (``steps`` is
        empty), for callers that choose by the overall trust alone.
        """
        wanted = None if keys is None else set(keys)
        with self._lock:
            try:
                known = {TrustKey(*r[1:5]): (r[0], r[5]) for r in self._db.execute(
                    "SELECT key_id, variable, spec, schedule, context, horizon FROM trust_keys")}
                chosen = sorted(k for k in known if wanted is None or k in wanted)
                rows: dict[int, list[tuple]] = defaultdict(list)
                ids = [known[k][0] for k in chosen]
                for at in range(0, len(ids), 500):
                    part = ids[at:at + 500]
                    for row in self._db.execute(
                            f"SELECT key_id, grid_window, success, counted, targets FROM evidence "
                            f"WHERE key_id IN ({','.join('?' * len(part))}) ORDER BY key_id, origin", part):
                        rows[row[0]].append(row[1:])
            except sqlite3.Error as exc:
                raise TrustError(f"{self._name}: cannot read ({exc})") from None
        chosen = [k for k in chosen if rows.get(known[k][0])]
        parts = [self._posteriors(rows[known[k][0]], known[k][1], steps) for k in chosen]
        overall = [p[0] for p in parts]
        low, high = beta_interval(np.array([p.alpha for p, _ in overall]), np.array([p.beta for p, _ in overall]))
        step_posts = [s for p in parts for s in p[1]]
        step_low, step_high = beta_interval(np.array([s.alpha for s, _ in step_posts]),
                                            np.array([s.beta for s, _ in step_posts]))
        estimates, at = [], 0
        for i, (key, ((post, counts), steps)) in enumerate(zip(chosen, parts, strict=True)):
            step_trust = []
            for k, (step_post, step_counts) in enumerate(steps, start=1):
                step_trust.append(StepTrust(k, step_post.alpha / (step_post.alpha + step_post.beta),
                                            float(step_low[at]), float(step_high[at]), *step_counts))
                at += 1
            estimates.append(TrustEstimate(
                key=key, mean=post.alpha / (post.alpha + post.beta), low=float(low[i]), high=float(high[i]),
                alpha=post.alpha, beta=post.beta, successes=counts[0], failures=counts[1],
                origins=counts[2], windows=counts[3], design_effect=post.design_effect, steps=tuple(step_trust)))
        return estimates

    def _posteriors(self, rows: Sequence[tuple], horizon: int, with_steps: bool = True):
        n = len(rows)
        window = np.array([r[0] for r in rows], dtype=np.int64)
        success = unpack_bits(b"".join(r[1] for r in rows), n, horizon)
        counted = unpack_bits(b"".join(r[2] for r in rows), n, horizon)
        target_days = _stacked(rows, 3, np.int64, horizon) / NS_PER_DAY
        newest = target_days[counted].max() if counted.any() else target_days.max()
        weight = np.exp(-self._kappa * (newest - target_days))
        windows = np.broadcast_to(window[:, None], (n, horizon))
        rank = np.broadcast_to(np.arange(n)[:, None], (n, horizon))
        x = success.astype(float)
        post = dependent_posterior(x[counted], weight[counted], windows[counted], rank[counted], horizon,
                                   self.prior_alpha, self.prior_beta)
        hits = int(success[counted].sum())
        counts = (hits, int(counted.sum()) - hits, n, len(np.unique(window)))
        if not with_steps:
            return (post, counts), []
        step_posts = dependent_posteriors(x, weight, window, np.arange(n), horizon, self.prior_alpha, self.prior_beta)
        step_hits = success.sum(axis=0)
        steps = [(step_post, (int(hits), n - int(hits))) for step_post, hits in zip(step_posts, step_hits, strict=True)]
        return (post, counts), steps

    def forecast_errors(self, key: TrustKey) -> ForecastErrors:
        """Every stored origin's forecast errors of ``key``, oldest first: what intervals are calibrated on."""
        with self._lock:
            try:
                row = self._db.execute("SELECT key_id, horizon FROM trust_keys WHERE variable = ? AND spec = ? "
                                       "AND schedule = ? AND context = ?",
                                       (key.variable, key.spec, key.schedule, key.context)).fetchone()
                rows = [] if row is None else self._db.execute(
                    "SELECT origin, counted, targets, errors FROM evidence WHERE key_id = ? ORDER BY origin",
                    (row[0],)).fetchall()
            except sqlite3.Error as exc:
                raise TrustError(f"{self._name}: cannot read ({exc})") from None
        horizon = 0 if row is None else int(row[1])
        missing = np.full(horizon, np.nan).tobytes()  # evidence kept before errors were
        rows = [(*r[:3], missing if r[3] is None else r[3]) for r in rows]
        return ForecastErrors(
            key=key, origins=np.array([r[0] for r in rows], dtype=np.int64),
            targets=_stacked(rows, 2, np.int64, horizon), errors=_stacked(rows, 3, "<f8", horizon),
            counted=unpack_bits(b"".join(r[1] for r in rows), len(rows), horizon))

    def estimate(self, variable: str, spec: str) -> TrustEstimate | None:
        """The one estimate of (variable, spec); an error if several schedules or contexts hold one."""
        found = [e for e in self.estimates() if (e.variable, e.spec) == (variable, spec)]
        if len(found) > 1:
            raise TrustError(f"{self._name} holds {len(found)} posteriors for {variable} / {spec} "
                             "(several schedules or contexts); use estimates(keys)")
        return found[0] if found else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "OptimizedTrustTracker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _stacked(rows: Sequence[tuple], column: int, dtype: Any, horizon: int) -> np.ndarray:
    """One ``horizon``-wide array row per database row, from that column's blob."""
    return np.frombuffer(b"".join(r[column] for r in rows), dtype).reshape(len(rows), horizon)
