"""Every metric the workers streamed, persisted in SQLite on the coordinator.

Event chunks arrive on the Dask client's event loop; ``submit_chunk`` only
queues them so the loop never waits on disk, and a writer thread inserts
them in transactions. ``drain`` waits until all queued chunks are written.
A chunk's items are stored as they travel, one row each: a series (one name,
its values at consecutive positions) or a record (several names, one value
each, at one position), the values packed as float64. A row is identified by
(run, batch, variable, model, names, first position), so a batch that ran
twice (an abort before its result was journalled, then a resume) is stored
once; a row per item rather than per value lets the writer keep up with a
thousand workers. A writer that fails (a full disk) keeps draining the
queue, so nothing ever waits on it, and keeps its first error in ``error``
for the run to report.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
from typing import Callable

import numpy as np
import pandas as pd

from ..base import open_database

__all__ = ["MetricsStore", "RECORD_SEPARATOR"]

RECORD_SEPARATOR = ","  # between the names of a record's values
_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_items (
    run_id TEXT NOT NULL, batch_id TEXT NOT NULL, variable TEXT NOT NULL, model TEXT NOT NULL,
    names TEXT NOT NULL, position INTEGER NOT NULL, time REAL NOT NULL, count INTEGER NOT NULL,
    vals BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS metric_items_identity
    ON metric_items (run_id, batch_id, variable, model, names, position);
"""
_COLUMNS = ["run_id", "batch_id", "variable", "model", "name", "value", "time", "position"]
_STOP = object()
CHUNKS_PER_TRANSACTION = 1000


def _packed(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _values(item: tuple) -> list[tuple]:
    """One stored row (run_id, batch_id, variable, model, names, position, time, vals) as a row per value."""
    run_id, batch_id, variable, model, names, position, at, vals = item
    values = np.frombuffer(vals, dtype="<f8").tolist()
    if RECORD_SEPARATOR in names:
        return [(run_id, batch_id, variable, model, name, value, at, position)
                for name, value in zip(names.split(RECORD_SEPARATOR), values, strict=True)]
    return [(run_id, batch_id, variable, model, names, value, at, position + i) for i, value in enumerate(values)]


class MetricsStore:
    """SQLite (WAL) table of metrics with simple queries; ``db_path=None`` keeps it in memory."""

    def __init__(self, db_path: str | os.PathLike[str] | None = None, *,
                 on_stored: Callable[[str, int], None] | None = None) -> None:
        """``on_stored(batch_id, values)`` is called from the writer thread once a chunk is in the database."""
        self._db = open_database(db_path, _SCHEMA, what="metrics database", durable=False)
        self._on_stored = on_stored
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'metrics'").fetchone():
            self._convert_values_table()
        self.error: str | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="metrics-writer", daemon=True)
        self._writer.start()

    def _convert_values_table(self) -> None:
        """Older versions kept a row per value (and before that, no position): each becomes an item of one
        value; a value without a position takes its place among its name's values in the order written."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")  # another run may be converting it at this moment
            if not self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'metrics'").fetchone():
                return
            if "position" not in {row[1] for row in self._db.execute("PRAGMA table_info(metrics)")}:
                self._db.execute("ALTER TABLE metrics ADD COLUMN position INTEGER")
            rows = self._db.execute(
                "SELECT run_id, batch_id, variable, model, name, COALESCE(position, ROW_NUMBER() OVER ("
                "PARTITION BY run_id, batch_id, variable, model, name ORDER BY rowid) - 1), time, value "
                "FROM metrics").fetchall()
            self._db.executemany("INSERT OR IGNORE INTO metric_items VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                                 (row[:7] + (_packed([float("nan") if row[7] is None else row[7]]),)
                                  for row in rows))
            self._db.execute("DROP TABLE metrics")

    def submit_chunk(self, chunk: dict) -> None:
        """Queue one event chunk from :class:`AsyncMetricsCollector`; never blocks."""
        self._queue.put(chunk)

    def _write_loop(self) -> None:
        """Whatever is queued when the writer comes round goes in one transaction (a thousand workers'
        chunks would cost a commit each otherwise)."""
        while True:
            chunks = [self._queue.get()]
            while len(chunks) < CHUNKS_PER_TRANSACTION:
                try:
                    chunks.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop, taken = _STOP in chunks, len(chunks)
            try:
                if self.error is None:
                    self._write_group([chunk for chunk in chunks if chunk is not _STOP])
            except Exception as exc:  # keep draining: nothing may wait on a writer that cannot write
                self.error = f"metrics database: cannot store metrics ({exc})"
            finally:
                chunks.clear()  # before drain() can return: nothing of a written group stays behind
                for _ in range(taken):
                    self._queue.task_done()
            if stop:
                return

    def _write_group(self, chunks: list[dict]) -> None:
        """``chunks`` in one transaction, then told to ``on_stored`` batch by batch."""
        rows = [(chunk["run_id"], chunk["batch_id"], variable, model,
                 names if isinstance(names, str) else RECORD_SEPARATOR.join(names), first, at, len(values),
                 _packed(values))
                for chunk in chunks for variable, model, names, at, first, values in chunk["series"]]
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO metric_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if self._on_stored is not None:
            for chunk in chunks:
                self._on_stored(chunk["batch_id"], sum(len(item[-1]) for item in chunk["series"]))

    def drain(self) -> None:
        """Wait until every queued chunk is in the database."""
        self._queue.join()

    def count(self, run_id: str | None = None, batch_id: str | None = None) -> int:
        clauses, params = self._where(run_id=run_id, batch_id=batch_id)
        with self._lock:
            return int(self._db.execute(f"SELECT COALESCE(SUM(count), 0) FROM metric_items{clauses}",
                                        params).fetchone()[0])

    def counts_by_batch(self, run_id: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, SUM(count) FROM metric_items WHERE run_id = ? GROUP BY batch_id", (run_id,))
            return dict(rows.fetchall())

    def query(self, run_id: str | None = None, variable: str | None = None, model: str | None = None,
              name: str | None = None) -> pd.DataFrame:
        """Metrics matching every given field, a row per value, oldest first."""
        clauses, params = self._where(run_id=run_id, variable=variable, model=model)
        with self._lock:
            items = self._db.execute(f"SELECT run_id, batch_id, variable, model, names, position, time, vals "
                                     f"FROM metric_items{clauses}", params).fetchall()
        values = [row for item in items for row in _values(item) if name is None or row[4] == name]
        return pd.DataFrame(values, columns=_COLUMNS).sort_values("time", kind="stable", ignore_index=True)

    @staticmethod
    def _where(**fields: str | None) -> tuple[str, list[str]]:
        given = {k: v for k, v in fields.items() if v is not None}
        if not given:
            return "", []
        return " WHERE " + " AND ".join(f"{k} = ?" for k in given), list(given.values())

    def close(self) -> None:
        if self._writer.is_alive():
            self._queue.put(_STOP)
            self._writer.join()
        with self._lock:
            self._db.close()

    def __enter__(self) -> "MetricsStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
