"""The non-blocking collector and the SQLite metrics store."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

import numpy as np

from recursive_training.metrics import AsyncMetricsCollector, MetricsStore


def test_submit_never_waits_for_a_slow_channel():
    release = threading.Event()
    received = []

    def slow_send(chunk):
        release.wait(5)
        received.append(chunk)

    collector = AsyncMetricsCollector(slow_send, run_id="r", batch_id="b", chunk_size=10, max_delay_seconds=0.01)
    started = time.perf_counter()
    for i in range(5000):
        collector.submit("v", "ar", "m", i)
    assert time.perf_counter() - started < 1.0  # the channel is blocked the whole time
    release.set()
    assert collector.close() == 5000
    values = [value for chunk in received for series in chunk["series"] for value in series[-1]]
    assert values == [float(i) for i in range(5000)]
    assert all(chunk["run_id"] == "r" and chunk["batch_id"] == "b" for chunk in received)


def test_series_and_records_are_stored_as_items_and_read_back_a_row_per_value():
    with MetricsStore() as store:
        with AsyncMetricsCollector(store.submit_chunk, run_id="r", batch_id="b") as collector:
            collector.submit_many("v", "ar", "origin_mae", [0.5, 1.5, 2.5])
            collector.submit("v", "ar", "mae", 1.5)
            collector.submit_record("v", "ar", {"mae": 2.0, "rmse": 3.0, "n": 4.0})
        store.drain()
        frame = store.query(run_id="r", name="origin_mae")
        assert frame["value"].tolist() == [0.5, 1.5, 2.5] and frame["position"].tolist() == [0, 1, 2]
        assert store.count(run_id="r") == 7 == collector.sent
        assert store._db.execute("SELECT COUNT(*) FROM metric_items").fetchone() == (3,)  # items, not values
        mae = store.query(name="mae")  # the record comes after the lone mae: a position of its own
        assert mae["value"].tolist() == [1.5, 2.0] and mae["position"].tolist() == [0, 1]
        record = store.query(run_id="r").query("time == time.max()")
        assert dict(zip(record["name"], record["value"])) == {"mae": 2.0, "rmse": 3.0, "n": 4.0}
        assert set(record["position"]) == {1} and list(store.query().columns) == [
            "run_id", "batch_id", "variable", "model", "name", "value", "time", "position"]


def test_a_full_chunk_goes_at_once_and_a_partial_one_within_the_delay():
    """The sending thread is woken by a chunk's worth or by the delay, not per item (which traded the
    interpreter lock with the training loop for every item); either way metrics flow while a batch runs."""
    received = []
    arrived = threading.Event()

    def send(chunk):
        received.append(chunk)
        arrived.set()

    full = AsyncMetricsCollector(send, run_id="r", batch_id="b", chunk_size=10, max_delay_seconds=60)
    started = time.monotonic()
    full.submit_many("v", "ar", "m", range(10))
    assert arrived.wait(5) and time.monotonic() - started < 5  # not after the 60 s delay
    assert [series[-1] for series in received[0]["series"]] == [[float(i) for i in range(10)]]
    full.close()
    received.clear()
    arrived.clear()
    partial = AsyncMetricsCollector(send, run_id="r", batch_id="b", chunk_size=1000, max_delay_seconds=0.05)
    partial.submit("v", "ar", "mae", 1.5)
    assert arrived.wait(5) and received[0]["series"][0][-1] == [1.5]  # before close
    partial.close()


def test_close_flushes_a_partial_chunk():
    received = []
    with AsyncMetricsCollector(received.append, run_id="r", batch_id="b", chunk_size=1000,
                               max_delay_seconds=60) as collector:
        collector.submit("v", "ar", "mae", 1.5)
        collector.submit("v", "ar", "rmse", 2.5)
    assert collector.sent == 2 and len(received) == 1


def test_a_broken_channel_does_not_fail_the_work():
    def broken(chunk):
        raise ConnectionError("scheduler gone")

    collector = AsyncMetricsCollector(broken, run_id="r", batch_id="b")
    collector.submit("v", "ar", "mae", 1.0)
    assert collector.close() == 0
    assert "scheduler gone" in collector.error


def test_store_persists_and_answers_queries(tmp_path):
    db = tmp_path / "m.sqlite"
    with MetricsStore(db) as store:
        store.submit_chunk({"run_id": "r1", "batch_id": "b1", "series": [["x", "ar", "mae", 1.0, 0, [1.0]],
                                                                         ["y", "ar", "mae", 2.0, 0, [2.0]]]})
        store.submit_chunk({"run_id": "r1", "batch_id": "b2", "series": [["x", "naive", "mae", 3.0, 0, [3.0]]]})
        store.drain()
        assert store.count() == 3 and store.count(run_id="r1", batch_id="b1") == 2
        assert store.counts_by_batch("r1") == {"b1": 2, "b2": 1}
    with MetricsStore(db) as reopened:
        frame = reopened.query(run_id="r1", variable="x")
        assert frame["value"].tolist() == [1.0, 3.0]
        assert reopened.query(model="naive")["variable"].tolist() == ["x"]


def test_a_batch_that_ran_twice_is_stored_once(tmp_path):
    with MetricsStore(tmp_path / "m.sqlite") as store:
        for attempt in range(2):  # an abort before the result was journalled, then a resume
            with AsyncMetricsCollector(store.submit_chunk, run_id="r", batch_id="b") as collector:
                collector.submit_many("x", "ar", "origin_mae", [1.0, 2.0, 3.0])
                collector.submit_many("x", "ar", "origin_mae", [4.0])  # the same name again: new positions
                collector.submit("x", "ar", "mae", 2.5)
                collector.submit_record("x", "ar", {"rmse": 1.0, "n": 3.0})
        store.drain()
        assert store.count(run_id="r") == 7
        assert store.query(name="origin_mae")["value"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_writer_that_cannot_write_reports_and_never_blocks(tmp_path):
    store = MetricsStore(tmp_path / "m.sqlite")
    store._db.execute("DROP TABLE metric_items")  # every insert now fails, as on a full disk
    for i in range(50):
        store.submit_chunk({"run_id": "r", "batch_id": f"b{i}", "series": [["x", "ar", "mae", 1.0, 0, [1.0]]]})
    store.drain()  # returns: the writer kept draining
    assert store.error.startswith("metrics database: cannot store metrics (no such table: metric_items)")
    store.close()


def old_database(path, *statements: str) -> None:
    """A metrics database as an older version left it: a row per value (without ``position`` before values
    had an identity), then ``statements``."""
    columns = "run_id TEXT NOT NULL, batch_id TEXT NOT NULL, variable TEXT NOT NULL, model TEXT NOT NULL, " \
              "name TEXT NOT NULL, value REAL, time REAL NOT NULL"
    with contextlib.closing(sqlite3.connect(path)) as old, old:
        old.execute(f"CREATE TABLE metrics ({columns})")
        for statement in statements:
            old.execute(statement)


def test_a_database_without_value_identities_is_converted_in_the_order_written(tmp_path):
    db = tmp_path / "old.sqlite"
    old_database(db, "INSERT INTO metrics VALUES ('r0', 'b', 'x', 'ar', 'mae', 1.0, 0.0)",
                 "INSERT INTO metrics VALUES ('r0', 'b', 'x', 'ar', 'mae', 5.0, 1.0)",
                 "INSERT INTO metrics VALUES ('r0', 'b', 'x', 'ar', 'rmse', NULL, 1.0)")
    with MetricsStore(db) as store:
        store.submit_chunk({"run_id": "r1", "batch_id": "b", "series": [["x", "ar", "mae", 1.0, 0, [2.0]]]})
        store.drain()
        assert store.count() == 4 and store.error is None
        old = store.query(run_id="r0")
        assert old[["name", "position", "time"]].values.tolist() == [["mae", 0, 0.0], ["mae", 1, 1.0],
                                                                      ["rmse", 0, 1.0]]
        assert old["value"].tolist()[:2] == [1.0, 5.0] and np.isnan(old["value"].iloc[2])
    tables = {row[0] for row in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"metric_items"}


def test_a_row_per_value_database_is_converted_and_its_identities_still_hold(tmp_path):
    db = tmp_path / "older.sqlite"
    old_database(db, "ALTER TABLE metrics ADD COLUMN position INTEGER",
                 "CREATE INDEX metrics_run_batch ON metrics (run_id, batch_id)",
                 "INSERT INTO metrics VALUES ('r', 'b1', 'x', 'ar', 'origin_mae', 2.0, 1.0, 0)",
                 "INSERT INTO metrics VALUES ('r', 'b1', 'x', 'ar', 'origin_mae', 3.0, 1.0, 1)")
    with MetricsStore(db) as store:  # the same batch's values arrive again (a rerun): stored once
        store.submit_chunk({"run_id": "r", "batch_id": "b1", "series": [["x", "ar", "origin_mae", 1.0, 0, [2.0]],
                                                                        ["x", "ar", "origin_mae", 1.0, 1, [3.0]],
                                                                        ["x", "ar", "origin_mae", 1.0, 2, [4.0]]]})
        store.drain()
        assert store.counts_by_batch("r") == {"b1": 3}
        assert store.query(name="origin_mae")["value"].tolist() == [2.0, 3.0, 4.0]
    check = sqlite3.connect(db)
    indexes = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    plan = " ".join(str(row) for row in check.execute(
        "EXPLAIN QUERY PLAN SELECT batch_id, SUM(count) FROM metric_items WHERE run_id = 'r' GROUP BY batch_id"))
    check.close()
    assert indexes == {"metric_items_identity"} and "metric_items_identity" in plan


def test_the_metrics_ledger_holds_only_the_batches_whose_metrics_are_on_their_way():
    from recursive_training.recording import MetricsLedger

    ledger = MetricsLedger()
    ledger.landed("early", 3)  # a batch's metrics may land before its result arrives
    ledger.expect("early", 3)
    ledger.expect("late", 5)
    assert (ledger.sent, ledger.stored, ledger.outstanding) == (8, 3, 1)
    ledger.landed("late", 2)
    assert (ledger.stored, ledger.outstanding) == (5, 1)  # part of it: still waited for
    ledger.landed("late", 3)
    assert (ledger.stored, ledger.outstanding) == (8, 0)
    ledger.landed("retried", 4)  # a batch run twice sends its metrics twice; the store keeps them once
    ledger.landed("retried", 4)
    ledger.expect("retried", 4)
    assert (ledger.sent, ledger.stored, ledger.outstanding) == (12, 12, 0)
    assert ledger._expected == {} and ledger._landed == {}  # nothing kept of a settled batch
