"""Every metric the workers streamed, persisted in SQLite on the coordinator.

Event chunks arrive on the Dask client's event loop; ``submit_chunk`` only
queues them so the loop never waits on disk, and a writer thread inserts
them in transactions. ``drain`` waits until all queued chunks are written.
Each value is identified by (run, batch, variable, model, name, position),
so a batch that ran twice (an abort before its result was journalled, then
a resume) is stored once. A writer that fails (a full disk) keeps draining
the queue, so nothing ever waits on it, and keeps its first error in
``error`` for the run to report.
"""

from __future__ import annotations

import os
import queue
import threading

import pandas as pd

from ..base import open_database

__all__ = ["MetricsStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL, batch_id TEXT NOT NULL, variable TEXT NOT NULL, model TEXT NOT NULL,
    name TEXT NOT NULL, value REAL, time REAL NOT NULL, position INTEGER);
"""
# The identity index also serves every query by run and batch (its first columns): a second index on
# (run_id, batch_id), as databases written before had, doubled the cost of each insert.
_IDENTITY = """
CREATE UNIQUE INDEX IF NOT EXISTS metrics_identity ON metrics (run_id, batch_id, variable, model, name, position);
DROP INDEX IF EXISTS metrics_run_batch;
"""
_STOP = object()


class MetricsStore:
    """SQLite (WAL) table of metrics with simple queries; ``db_path=None`` keeps it in memory."""

    def __init__(self, db_path: str | os.PathLike[str] | None = None) -> None:
        self._db = open_database(db_path, _SCHEMA, what="metrics database", durable=False)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(metrics)")}
        if "position" not in columns:  # written before values had an identity
            with self._db:
                self._db.execute("ALTER TABLE metrics ADD COLUMN position INTEGER")
        self._db.executescript(_IDENTITY)
        self.error: str | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="metrics-writer", daemon=True)
        self._writer.start()

    def submit_chunk(self, chunk: dict) -> None:
        """Queue one event chunk from :class:`AsyncMetricsCollector`; never blocks."""
        self._queue.put(chunk)

    def insert_chunk(self, chunk: dict) -> int:
        run_id, batch_id = chunk["run_id"], chunk["batch_id"]
        rows = [(run_id, batch_id, variable, model, name, value, at, position)
                for variable, model, name, at, first, values in chunk["series"]
                for position, value in enumerate(values, start=first)]
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def _write_loop(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is _STOP:
                    return
                if self.error is None:
                    self.insert_chunk(chunk)
            except Exception as exc:  # keep draining: nothing may wait on a writer that cannot write
                self.error = f"metrics database: cannot store metrics ({exc})"
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        """Wait until every queued chunk is in the database."""
        self._queue.join()

    def count(self, run_id: str | None = None, batch_id: str | None = None) -> int:
        clauses, params = self._where(run_id=run_id, batch_id=batch_id)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM metrics{clauses}", params).fetchone()[0])

    def counts_by_batch(self, run_id: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, COUNT(*) FROM metrics WHERE run_id = ? GROUP BY batch_id", (run_id,))
            return dict(rows.fetchall())

    def query(self, run_id: str | None = None, variable: str | None = None, model: str | None = None,
              name: str | None = None) -> pd.DataFrame:
        """Metrics matching every given field, oldest first."""
        clauses, params = self._where(run_id=run_id, variable=variable, model=model, name=name)
        with self._lock:
            return pd.read_sql_query(f"SELECT * FROM metrics{clauses} ORDER BY time", self._db, params=params)

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
