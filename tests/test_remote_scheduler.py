"""A run against a real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from recursive_training import read_results

from .conftest import daily_frame, dask_processes
from .test_cli import cli

pytestmark = pytest.mark.cluster

@pytest.fixture
def scheduler_with_two_workers(tmp_path):
    with dask_processes(tmp_path) as cluster:
        yield cluster.address
    assert cluster.scheduler.poll() is not None
    assert all(p.poll() is not None for p in cluster.workers.values())


@pytest.mark.slow
def test_cli_run_on_remote_scheduler_matches_local_cluster(tmp_path, scheduler_with_two_workers):
    frame = daily_frame(400)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "wide.csv", index=False)
    assert cli("ingest", "wide.csv", "--store", "store", cwd=tmp_path).returncode == 0
    common = ["run", "--store", str(tmp_path / "store"), "--start", "2020-09-01", "--end", "2021-01-01",
              "--batch-size-days", "30", "--variables-per-batch", "1", "--model", "naive,ar,mlp",
              "--epochs", "20", "--lookback", "120", "--no-progress"]
    remote = cli(*common, "--scheduler", scheduler_with_two_workers, "--output-dir", "remote", cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    local = cli(*common, "--dashboard-port", "0", "--output-dir", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert remote.stdout.split("results:")[0] == local.stdout.split("results:")[0]  # same trust table

    def outcomes(folder):
        path = next((tmp_path / folder).glob("*/results.json"))
        body = json.loads(path.read_text())
        return body, {b["batch_id"]: [(o["variable"], o["model"], o["status"], o["score"])
                                      for o in b["result"]["outcomes"]] for b in body["batches"]}

    remote_body, remote_outcomes = outcomes("remote")
    _, local_outcomes = outcomes("local")
    assert remote_outcomes == local_outcomes
    assert len(remote_outcomes) == 15
    workers = {b["result"]["worker"] for b in remote_body["batches"]}
    assert len(workers) == 2  # both worker processes did work


def test_the_plan_follows_the_real_cluster_and_a_given_client_stays_open(tmp_path, store_dir):
    """Three single-threaded workers behind a scheduler: batches are sized for 3, not the default 2."""
    from distributed import Client

    from recursive_training import ParallelTrainingCoordinator, TrainingConfig
    from recursive_training.data import open_store
    from recursive_training.planning import plan_batches

    from .conftest import dask_processes

    with dask_processes(tmp_path, workers=3) as cluster, Client(cluster.address) as client:
        config = TrainingConfig.from_mapping({"store_path": store_dir, "start": "2020-05-01", "end": "2021-05-01",
                                              "models": ["naive"], "output_dir": tmp_path / "runs",
                                              "batch_size_days": 90})
        coordinator = ParallelTrainingCoordinator(config, client=client)
        summary = coordinator.start_training()
        assert coordinator.task_slots == 3 and summary.batches.completed == len(coordinator.batches)
        store = open_store(store_dir)
        infos = [store.info(v) for v in store.variables]
        for_three, _ = plan_batches(infos, config.start, config.end, config.window_grid, None, 3, 1)
        for_two, _ = plan_batches(infos, config.start, config.end, config.window_grid, None, 2, 1)
        assert len(for_three) == 13 != len(for_two)  # the worker count really changes the plan here
        assert sorted(b.batch_id for b in coordinator.batches) == sorted(b.batch_id for b in for_three)
        assert client.status == "running"  # left open for its owner
        assert client.submit(sum, [1, 2]).result() == 3


def test_runs_sharing_a_scheduler_keep_their_metrics_apart(tmp_path, store_dir):
    import sqlite3
    import subprocess

    from .conftest import PYTHON, REPO, dask_processes

    with dask_processes(tmp_path, workers=2) as cluster:
        runs = {name: subprocess.Popen(
            [PYTHON, str(REPO / "run_training.py"), "run", "--store", str(store_dir), "--start", start,
             "--end", "2021-01-01", "--model", "naive,ar", "--scheduler", cluster.address, "--no-progress",
             "--output-dir", str(tmp_path / name), "--run-id", name], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for name, start in (("first", "2020-05-01"), ("second", "2020-07-01"))}
        for process in runs.values():
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr
    for name in runs:
        db = sqlite3.connect(tmp_path / name / "metrics.sqlite")
        stored = dict(db.execute("SELECT run_id, COUNT(*) FROM metrics GROUP BY run_id").fetchall())
        metrics = read_results(tmp_path / name / name / "results.json").summary.metrics
        assert stored == {name: metrics.sent} and metrics.stored == metrics.sent
