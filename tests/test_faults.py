"""Faults end clearly and resumably: a full disk, a second coordinator, a foreign results file, a damaged journal."""

from __future__ import annotations

import json
import os

import pytest

from recursive_training import ParallelTrainingCoordinator, TrainingConfig, read_results
from recursive_training.base import ConfigError
from recursive_training.run_lock import RunLock

from .test_cli import cli

RUN = ["run", "--store", "store", "--start", "2020-11-01", "--end", "2021-01-01", "--batch-size-days", "30",
       "--model", "naive,ar(order=2)", "--workers", "0", "--no-progress"]


@pytest.fixture
def workspace(store_dir):
    """A directory holding the store as ``store``; commands run inside it."""
    return store_dir.parent


def test_a_full_disk_is_reported_as_the_journals_first_failure(workspace):
    run_dir = workspace / "full" / "disk"
    run_dir.mkdir(parents=True)
    os.symlink("/dev/full", run_dir / "journal.jsonl")  # every write: ENOSPC
    done = cli(*RUN, "--output-dir", "full", "--run-id", "disk", cwd=workspace)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: results journal full/disk/journal.jsonl: cannot write (No space left on device)")
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_a_second_coordinator_on_the_same_run_is_refused(workspace):
    config = TrainingConfig.from_mapping({"store_path": workspace / "store", "start": "2020-11-01",
                                          "end": "2020-12-01", "models": ["naive"], "workers": 0,
                                          "output_dir": workspace / "runs", "run_id": "shared"})
    holder = RunLock(config.run_dir, "shared")
    holder.acquire()  # as a coordinator working in the run directory would
    try:
        with pytest.raises(ConfigError, match=f"run 'shared' is in use by another coordinator \\(pid {os.getpid()}\\)"):
            ParallelTrainingCoordinator(config).start_training()
        assert not (config.run_dir / "journal.jsonl").exists()  # refused before any work
    finally:
        holder.release()
    ParallelTrainingCoordinator(config).start_training()  # free again
    assert (config.run_dir / "journal.jsonl").exists()


def test_output_never_overwrites_another_runs_results_unless_forced(workspace):
    first = cli(*RUN, "--output-dir", "out", "--run-id", "first", "--output", "results.json", cwd=workspace)
    assert first.returncode == 0, first.stderr
    written = (workspace / "results.json").read_text()
    second = cli(*RUN, "--output-dir", "out", "--run-id", "second", "--output", "results.json", cwd=workspace)
    assert second.returncode == 1
    assert "results.json holds the results of run 'first'; choose another --output, or pass --force" in second.stderr
    assert (workspace / "results.json").read_text() == written
    assert not (workspace / "out" / "second" / "journal.jsonl").exists()  # refused before any work
    forced = cli(*RUN, "--output-dir", "out", "--run-id", "second", "--output", "results.json", "--force",
                 cwd=workspace)
    assert forced.returncode == 0, forced.stderr
    assert json.loads((workspace / "results.json").read_text())["summary"]["run_id"] == "second"


def test_a_damaged_result_in_the_journal_is_named_and_repaired(workspace):
    assert cli(*RUN, "--output-dir", "dmg", "--run-id", "dmg", cwd=workspace).returncode == 0
    journal = workspace / "dmg" / "dmg" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    record = json.loads(lines[2])
    record["result"]["evidence"][0]["success"] = "zz"  # not hex: the result cannot be read back
    lines[2] = json.dumps(record)
    journal.write_text("\n".join(lines) + "\n")
    refused = cli(*RUN, "--output-dir", "dmg", "--run-id", "dmg", "--resume", cwd=workspace)
    assert refused.returncode == 1
    assert "results journal dmg/dmg/journal.jsonl: line 3 is damaged" in refused.stderr
    repaired = cli(*RUN, "--output-dir", "dmg", "--run-id", "dmg", "--resume", "--repair", cwd=workspace)
    assert repaired.returncode == 0, repaired.stderr
    assert "dropped 1 damaged journal line(s) (3)" in repaired.stderr
    assert list((workspace / "dmg" / "dmg").glob("journal.jsonl.damaged-*"))
    counts = read_results(workspace / "dmg" / "dmg" / "results.json").summary.batches
    assert counts.not_run == 0 and counts.failed == 0
    assert counts.total - counts.resumed == 1  # only the dropped batch again


def test_a_locked_trust_database_ends_the_run_with_one_error_and_loses_nothing(workspace, monkeypatch):
    import sqlite3

    from analytics import OptimizedTrustTracker, optimized_trust_tracker
    from recursive_training.base import TrustError

    monkeypatch.setattr(optimized_trust_tracker, "BUSY_TIMEOUT_SECONDS", 0.3)
    options = {"store_path": workspace / "store", "start": "2020-10-01", "end": "2021-01-01", "batch_size_days": 30,
               "models": ["naive", "ar(order=2)"], "workers": 0, "output_dir": workspace / "locked",
               "run_id": "locked"}
    config = TrainingConfig.from_mapping(options)
    holder: list[sqlite3.Connection] = []

    def lock_the_database_after_the_first_batch(done, total, batch):
        if batch is not None and not holder:  # another run's long transaction, say
            holder.append(sqlite3.connect(config.trust_db_path, isolation_level=None))
            holder[0].execute("BEGIN EXCLUSIVE")

    coordinator = ParallelTrainingCoordinator(config)
    with pytest.raises(TrustError, match="trust database .*trust.sqlite: cannot save evidence \\(database is locked\\)"):
        coordinator.start_training(lock_the_database_after_the_first_batch)
    journal = [json.loads(line) for line in (config.run_dir / "journal.jsonl").read_text().splitlines()]
    assert sum(r.get("status") == "done" for r in journal) == len(coordinator.batches) == 4  # every batch kept
    holder[0].execute("ROLLBACK")
    holder[0].close()
    ParallelTrainingCoordinator(TrainingConfig.from_mapping({**options, "resume": True})).start_training()
    fresh = TrainingConfig.from_mapping({**options, "output_dir": workspace / "fresh"})
    ParallelTrainingCoordinator(fresh).start_training()

    def table(path):
        with OptimizedTrustTracker(path) as tracker:
            return [(e.key, e.successes, e.failures, e.alpha, e.beta) for e in tracker.estimates()]

    assert table(config.trust_db_path) == table(fresh.trust_db_path)  # the resume applied what was held back
