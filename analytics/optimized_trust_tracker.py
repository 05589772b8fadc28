"""Bayesian trust per (variable, model), vectorised over keys, kept in SQLite.

Each key holds a Beta(α, β) posterior: α = α₀ + weighted successes,
β = β₀ + weighted failures. With a half-life, evidence is discounted by its
age in *data time* (the end of the window it scored) relative to the newest
evidence of the key, so the result does not depend on the order in which
batches finish: a resumed or reordered run reaches the same trust.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.stats import beta as beta_distribution

from recursive_training.errors import TrustError
from recursive_training.sqlite_db import open_database

__all__ = ["TrustUpdate", "TrustEstimate", "OptimizedTrustTracker"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trust (
    variable TEXT NOT NULL, model TEXT NOT NULL,
    alpha_evidence REAL NOT NULL, beta_evidence REAL NOT NULL, t_ref REAL,
    successes INTEGER NOT NULL, failures INTEGER NOT NULL, updates INTEGER NOT NULL,
    PRIMARY KEY (variable, model));
CREATE TABLE IF NOT EXISTS applied (
    update_id TEXT NOT NULL, variable TEXT NOT NULL, model TEXT NOT NULL,
    PRIMARY KEY (update_id, variable, model));
"""


@dataclass(frozen=True)
class TrustUpdate:
    """Evidence from one batch for one key; ``update_id`` makes it idempotent."""

    update_id: str
    variable: str
    model: str
    successes: int
    failures: int
    time_days: float  # end of the scored window, days since 1970-01-01

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.update_id, self.variable, self.model)


@dataclass(frozen=True)
class TrustEstimate:
    variable: str
    model: str
    mean: float
    low: float  # 2.5% posterior quantile
    high: float  # 97.5% posterior quantile
    alpha: float
    beta: float
    successes: int
    failures: int
    updates: int


class OptimizedTrustTracker:
    """Posteriors for all keys as numpy arrays; every apply is one SQLite transaction.

    ``db_path=None`` keeps everything in memory (for tests and one-off runs).
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
        self._lock = threading.Lock()
        self._db = self._open(db_path)
        self._keys: list[tuple[str, str]] = []
        self._index: dict[tuple[str, str], int] = {}
        self._alpha_ev = np.zeros(0)
        self._beta_ev = np.zeros(0)
        self._t_ref = np.zeros(0)
        self._counts = np.zeros((0, 3), dtype=np.int64)  # successes, failures, updates
        self._applied: set[tuple[str, str, str]] = set()
        self._load()

    # persistence -------------------------------------------------------------
    def _open(self, db_path) -> sqlite3.Connection:
        db = open_database(db_path, _SCHEMA, what="trust database", error=TrustError)
        target = ":memory:" if db_path is None else str(db_path)
        stored = dict(db.execute("SELECT key, value FROM meta"))
        wanted = "none" if self.decay_half_life_days is None else repr(float(self.decay_half_life_days))
        if stored.get("decay_half_life_days", wanted) != wanted:
            raise TrustError(
                f"trust database {target} was built with decay half-life "
                f"{stored['decay_half_life_days']} days; this run asks for {wanted}"
            )
        with db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('decay_half_life_days', ?)", (wanted,))
        return db

    def _load(self) -> None:
        rows = self._db.execute(
            "SELECT variable, model, alpha_evidence, beta_evidence, t_ref, successes, failures, updates "
            "FROM trust ORDER BY variable, model"
        ).fetchall()
        self._grow([(r[0], r[1]) for r in rows])
        if rows:
            self._alpha_ev[:] = [r[2] for r in rows]
            self._beta_ev[:] = [r[3] for r in rows]
            self._t_ref[:] = [np.nan if r[4] is None else r[4] for r in rows]
            self._counts[:] = [r[5:8] for r in rows]
        self._applied = {tuple(r) for r in self._db.execute("SELECT update_id, variable, model FROM applied")}

    def _grow(self, new_keys: Sequence[tuple[str, str]]) -> None:
        for key in new_keys:
            self._index[key] = len(self._keys)
            self._keys.append(key)
        n = len(new_keys)
        self._alpha_ev = np.concatenate([self._alpha_ev, np.zeros(n)])
        self._beta_ev = np.concatenate([self._beta_ev, np.zeros(n)])
        self._t_ref = np.concatenate([self._t_ref, np.full(n, np.nan)])
        self._counts = np.concatenate([self._counts, np.zeros((n, 3), dtype=np.int64)])

    # updates -----------------------------------------------------------------
    def apply(self, updates: Iterable[TrustUpdate]) -> int:
        """Apply the updates not applied before; return how many were new."""
        with self._lock:
            fresh: dict[tuple[str, str, str], TrustUpdate] = {}
            for update in updates:
                if update.identity not in self._applied:
                    fresh.setdefault(update.identity, update)
            if not fresh:
                return 0
            batch = list(fresh.values())
            self._grow(list(dict.fromkeys(
                (u.variable, u.model) for u in batch if (u.variable, u.model) not in self._index)))
            idx = np.array([self._index[(u.variable, u.model)] for u in batch])
            tau = np.array([u.time_days for u in batch], dtype=float)
            successes = np.array([u.successes for u in batch], dtype=float)
            failures = np.array([u.failures for u in batch], dtype=float)

            new_ref = self._t_ref.copy()
            np.fmax.at(new_ref, idx, tau)
            touched = np.unique(idx)
            rescale = np.exp(-self._kappa * (new_ref[touched] - self._t_ref[touched]))
            rescale[np.isnan(rescale)] = 1.0  # keys without earlier evidence
            self._alpha_ev[touched] *= rescale
            self._beta_ev[touched] *= rescale
            weight = np.exp(-self._kappa * (new_ref[idx] - tau))
            np.add.at(self._alpha_ev, idx, successes * weight)
            np.add.at(self._beta_ev, idx, failures * weight)
            self._t_ref = new_ref
            np.add.at(self._counts, idx, np.column_stack([successes, failures, np.ones(len(idx))]).astype(np.int64))
            self._persist(touched, fresh)
            self._applied.update(fresh)
            return len(batch)

    def _persist(self, touched: np.ndarray, fresh: dict) -> None:
        rows = [
            (*self._keys[i], float(self._alpha_ev[i]), float(self._beta_ev[i]),
             None if np.isnan(self._t_ref[i]) else float(self._t_ref[i]), *map(int, self._counts[i]))
            for i in touched
        ]
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO trust VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.executemany("INSERT INTO applied VALUES (?, ?, ?)", list(fresh))
        except sqlite3.Error as exc:
            raise TrustError(f"trust database: cannot save updates ({exc})") from None

    # reads -------------------------------------------------------------------
    def is_applied(self, update: TrustUpdate) -> bool:
        return update.identity in self._applied

    def estimates(self) -> list[TrustEstimate]:
        """Posterior mean and 95% credible interval of every key, in one vectorised call."""
        with self._lock:
            alpha = self.prior_alpha + self._alpha_ev
            beta = self.prior_beta + self._beta_ev
            low, high = beta_distribution.ppf([[0.025], [0.975]], alpha, beta) if len(alpha) else ([], [])
            return [
                TrustEstimate(variable=v, model=m, mean=float(alpha[i] / (alpha[i] + beta[i])),
                              low=float(low[i]), high=float(high[i]), alpha=float(alpha[i]),
                              beta=float(beta[i]), successes=int(self._counts[i, 0]),
                              failures=int(self._counts[i, 1]), updates=int(self._counts[i, 2]))
                for i, (v, m) in sorted(enumerate(self._keys), key=lambda item: item[1])
            ]

    def estimate(self, variable: str, model: str) -> TrustEstimate | None:
        return next((e for e in self.estimates() if (e.variable, e.model) == (variable, model)), None)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "OptimizedTrustTracker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
