"""The registry's SQLite catalog: one row per fitted model, its tags in a table of their own.

Every change is one transaction that adds or updates rows, never a
rewrite of totals, so concurrent writers (two forecasts, a REST call) do
not overwrite each other. Indexes on variable, family and tag keep a
filtered listing fast at 100,000 models (bench/bench_registry.py).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..base import RegistryError, open_database

__all__ = ["Catalog", "RegisteredModel", "STATUSES"]

STATUSES = ("active", "deprecated")
TAG_SEPARATOR = "\x1f"

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    variable TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    family TEXT NOT NULL,
    parameters TEXT NOT NULL,
    train_start TEXT NOT NULL,
    train_end TEXT NOT NULL,
    data_fingerprint TEXT NOT NULL,
    trust_mean REAL,
    trust_low REAL,
    trust_high REAL,
    scores TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'deprecated')),
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    artifact TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_by_variable ON models (variable, status);
CREATE INDEX IF NOT EXISTS models_by_family ON models (family, status, variable, created);
CREATE TABLE IF NOT EXISTS model_tags (
    model_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (model_id, tag)
);
CREATE INDEX IF NOT EXISTS model_tags_by_tag ON model_tags (tag, model_id);
"""

COLUMNS = ("id", "variable", "spec_id", "spec", "family", "parameters", "train_start", "train_end",
           "data_fingerprint", "trust_mean", "trust_low", "trust_high", "scores", "status", "created",
           "updated", "artifact", "sha256")


@dataclass(frozen=True)
class RegisteredModel:
    """One catalog entry: what was fitted, on what, how far it was trusted then, and where it lies."""

    id: str
    variable: str
    spec_id: str
    spec: str  # every parameter spelled out: parses back to the same model
    family: str
    parameters: Mapping[str, Any]
    train_start: str  # first and last timestamp of the training data, ISO 8601
    train_end: str
    data_fingerprint: str
    trust_mean: float | None
    trust_low: float | None
    trust_high: float | None
    scores: Mapping[str, float]
    status: str
    created: str
    updated: str
    artifact: str  # file name inside the registry's artifact directory
    sha256: str
    tags: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {name: (list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, Mapping)
                       else value) for name, value in ((n, getattr(self, n)) for n in (*COLUMNS, "tags"))}


class Catalog:
    """The catalog file; safe to share between threads (each call is one statement or one transaction)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_database(path, SCHEMA, what="model registry", error=RegistryError)
        self._lock = threading.RLock()  # one connection, shared by this process's threads

    def close(self) -> None:
        self._db.close()

    def upsert(self, rows: Sequence[tuple[Mapping[str, Any], Iterable[str]]]) -> None:
        """Add each (row, tags), or refresh the entry of the same id (a refit of the same model on the same
        data): its artifact, trust and scores change; its created time, status and tags stay; the tags
        are added. One transaction for all."""
        refreshed = ("artifact", "sha256", "trust_mean", "trust_low", "trust_high", "scores", "updated")
        values = []
        for row, _ in rows:
            stored = {**row, "parameters": json.dumps(row["parameters"], sort_keys=True),
                      "scores": json.dumps(row["scores"], sort_keys=True)}
            values.append([stored[c] for c in COLUMNS])
        with self._transaction() as db:
            db.executemany(f"INSERT INTO models ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                           f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in refreshed)}",
                           values)
            db.executemany("INSERT OR IGNORE INTO model_tags (model_id, tag) VALUES (?, ?)",
                           [(row["id"], tag) for row, tags in rows for tag in tags])

    def get(self, model_id: str) -> RegisteredModel | None:
        found = self.query(ids=[model_id])
        return found[0] if found else None

    def query(self, *, ids: Sequence[str] = (), variable: str | None = None, family: str | None = None,
              tags: Sequence[str] = (), status: str | None = None, limit: int | None = None,
              offset: int = 0) -> list[RegisteredModel]:
        """Entries matching every filter given (all of ``tags``), by variable, then newest first."""
        where, args = [], []
        for column, value in (("variable", variable), ("family", family), ("status", status)):
            if value is not None:
                where.append(f"m.{column} = ?")
                args.append(value)
        if ids:
            where.append(f"m.id IN ({', '.join('?' * len(ids))})")
            args.extend(ids)
        for tag in dict.fromkeys(tags):
            where.append("EXISTS (SELECT 1 FROM model_tags t WHERE t.model_id = m.id AND t.tag = ?)")
            args.append(tag)
        sql = (f"SELECT {', '.join(f'm.{c}' for c in COLUMNS)}, "
               f"(SELECT group_concat(tag, '{TAG_SEPARATOR}') FROM model_tags t WHERE t.model_id = m.id) "
               f"FROM models m {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY m.variable, m.created DESC, m.id LIMIT ? OFFSET ?")
        try:
            with self._lock:
                rows = self._db.execute(sql, [*args, -1 if limit is None else limit, offset]).fetchall()
        except sqlite3.Error as exc:
            raise RegistryError(f"model registry {self.path}: {exc}") from None
        return [_entry(row) for row in rows]

    def update(self, model_id: str, *, status: str | None, add_tags: Iterable[str], remove_tags: Iterable[str],
               updated: str) -> bool:
        """Change one entry's status and tags in one transaction; False if there is no such entry."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone() is None:
                return False
            if status is not None:
                db.execute("UPDATE models SET status = ? WHERE id = ?", (status, model_id))
            db.executemany("INSERT OR IGNORE INTO model_tags (model_id, tag) VALUES (?, ?)",
                           [(model_id, tag) for tag in add_tags])
            db.executemany("DELETE FROM model_tags WHERE model_id = ? AND tag = ?",
                           [(model_id, tag) for tag in remove_tags])
            db.execute("UPDATE models SET updated = ? WHERE id = ?", (updated, model_id))
        return True

    def delete(self, model_id: str) -> str | None:
        """Remove one entry and its tags; its artifact's file name, or None if there was no such entry."""
        with self._transaction() as db:
            row = db.execute("SELECT artifact FROM models WHERE id = ?", (model_id,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM model_tags WHERE model_id = ?", (model_id,))
            db.execute("DELETE FROM models WHERE id = ?", (model_id,))
        return row[0]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: a writer takes the file's lock before it reads what it changes."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise RegistryError(f"model registry {self.path}: {exc}") from None


def _entry(row: Sequence[Any]) -> RegisteredModel:
    values = dict(zip(COLUMNS, row[: len(COLUMNS)]))
    values["parameters"] = json.loads(values["parameters"])
    values["scores"] = json.loads(values["scores"])
    tags = tuple(sorted(row[len(COLUMNS)].split(TAG_SEPARATOR))) if row[len(COLUMNS)] else ()
    return RegisteredModel(**values, tags=tags)
