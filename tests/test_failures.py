"""Failing and hung batches are recorded while every other batch completes."""

from __future__ import annotations

import json
import os

import pytest

from recursive_training import BatchStatus, ParallelTrainingCoordinator, TrainingConfig
from recursive_training.data import RecursiveDataStore
from recursive_training.metrics import MetricsStore

from .conftest import daily_frame, store_of_single_files, variable_file

pytestmark = pytest.mark.cluster


@pytest.fixture
def store(tmp_path):
    return store_of_single_files(tmp_path / "store", daily_frame())


def config_for(tmp_path, store, **extra):
    return TrainingConfig.from_mapping({
        "store_path": store, "start": "2020-09-01", "end": "2021-01-01", "batch_size_days": 40,
        "variables_per_batch": 1, "models": ("naive", "ar"), "lookback": 150, "dashboard_port": 0,
        "output_dir": tmp_path / "runs", **extra,
    })


@pytest.mark.parametrize("workers", [2, 0], ids=["cluster", "in-process"])
def test_a_failing_batch_is_retried_then_recorded(tmp_path, store, workers, shared_client):
    variable_file(store, "walk").write_bytes(b"not parquet")
    coordinator = ParallelTrainingCoordinator(config_for(tmp_path, store, retries=2, workers=workers),
                                              client=shared_client if workers else None)
    summary = coordinator.start_training()
    assert summary.batches.total == 12
    assert summary.batches.completed == 8 and summary.batches.failed == 4
    failed = summary.failed_batches
    assert {b.batch_id for b in coordinator.batches if "walk" in b.variables} == {f.batch_id for f in failed}
    for failure in failed:
        assert failure.status is BatchStatus.FAILED and failure.variables == ("walk",)
        assert failure.attempts == 3  # the first try and two retries, by the one policy on both executors
        assert failure.error.startswith("StoreCorruptError: ") and "variable 'walk'" in failure.error
    assert set(summary.variables) == {"seasonal", "sine"}
    journal = [json.loads(line) for line in (coordinator.config.run_dir / "journal.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in journal[1:]) == ["done"] * 8 + ["failed"] * 4


@pytest.mark.slow
def test_a_hung_batch_times_out_and_frees_its_worker(tmp_path, store):
    victim = variable_file(store, "sine")
    victim.unlink()
    os.mkfifo(victim)  # opening it for reading blocks forever, like a dead network mount
    config = config_for(tmp_path, store, batch_timeout_seconds=3.0, retries=0, start="2020-11-01",
                        workers=2, store_kind="streaming")
    summary = ParallelTrainingCoordinator(config).start_training()
    counts = summary.batches
    assert (counts.total, counts.completed, counts.failed) == (6, 4, 2)
    assert all("BatchTimeoutError: timed out after 3 s" in f.error for f in summary.failed_batches)
    assert set(summary.variables) == {"seasonal", "walk"}


def test_100k_metrics_from_workers_all_arrive(tmp_path, shared_client):
    root = tmp_path / "store"
    frame = daily_frame(1700)
    for i in range(22):  # 25 variables
        frame[f"extra{i}"] = frame["walk"] + i
    RecursiveDataStore(root, create=True).ingest(frame)
    config = config_for(tmp_path, root, start="2020-06-01", end="2024-04-01", batch_size_days=200,
                        variables_per_batch=5, models=("naive", "seasonal_naive", "ar"), horizon=3)
    summary = ParallelTrainingCoordinator(config, client=shared_client).start_training()
    assert summary.batches.failed == 0
    sent = summary.metrics.sent
    assert sent >= 100_000
    with MetricsStore(config.metrics_db_path) as store:
        assert store.count(run_id=config.resolved_run_id()) == sent == summary.metrics.stored
