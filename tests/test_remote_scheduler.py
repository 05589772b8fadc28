"""A run against a real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time

import pytest

from recursive_training import ParallelTrainingCoordinator, TrainingConfig, read_results

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
    from recursive_training.planning import WorkEstimate, plan_batches

    from .conftest import dask_processes

    with dask_processes(tmp_path, workers=3) as cluster, Client(cluster.address) as client:
        config = TrainingConfig.from_mapping({"store_path": store_dir, "start": "2020-05-01", "end": "2021-05-01",
                                              "models": ["ces"], "output_dir": tmp_path / "runs",
                                              "batch_size_days": 60})
        coordinator = ParallelTrainingCoordinator(config, client=client)
        summary = coordinator.start_training()
        assert coordinator.task_slots == 3 and summary.batches.completed == len(coordinator.batches)
        store = open_store(store_dir)
        infos = [store.info(v) for v in store.variables]
        estimate = WorkEstimate.of(config.retrodiction)
        for_three, _ = plan_batches(infos, config.start, config.end, config.window_grid, None, 3, estimate)
        for_two, _ = plan_batches(infos, config.start, config.end, config.window_grid, None, 2, estimate)
        # CES costs enough (about 18 ms a variable and window) for the tapered tail to follow the worker count
        assert len(for_three) > len(for_two)
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
        stored = dict(db.execute("SELECT run_id, SUM(count) FROM metric_items GROUP BY run_id").fetchall())
        metrics = read_results(tmp_path / name / name / "results.json").summary.metrics
        assert stored == {name: metrics.sent} and metrics.stored == metrics.sent


@pytest.mark.slow
def test_an_urgent_run_overtakes_a_background_run_on_the_worker_that_offers_what_both_need(tmp_path, store_dir):
    """Both runs ask for GPU=1, which only w0 offers: every batch runs there, one at a time, and the
    urgent run's batches (priority 1), submitted after the background run's (priority -1) were all
    queued, run before the background run's that are still waiting."""
    with dask_processes(tmp_path, resources={"w0": "GPU=1"}) as cluster:
        base = {"store_path": store_dir, "start": "2020-07-01", "end": "2021-05-01", "batch_size_days": 30,
                "variables_per_batch": 1, "models": ("naive", "mlp"), "epochs": 40, "lags": 10, "lookback": 150,
                "scheduler_address": cluster.address, "resources": {"GPU": 1}, "report": False}
        finished: dict[str, list[tuple[float, str]]] = {"background": [], "urgent": []}
        started = threading.Event()

        def record(name):
            def progress(done, total, batch):
                if batch is not None:
                    finished[name].append((time.monotonic(), batch.result.worker))
                    started.set()
            return progress

        background = ParallelTrainingCoordinator(TrainingConfig.from_mapping(
            {**base, "output_dir": tmp_path / "background", "priority": -1}))
        thread = threading.Thread(target=lambda: finished.update(summary=background.start_training(
            record("background"))))
        thread.start()
        assert started.wait(120)  # the background run is running, its other batches queued behind
        urgent = ParallelTrainingCoordinator(TrainingConfig.from_mapping(
            {**base, "output_dir": tmp_path / "urgent", "end": "2020-08-15", "priority": 1}))
        summary = urgent.start_training(record("urgent"))
        thread.join(300)
        from distributed import Client

        with Client(cluster.address) as client:
            gpu_worker = next(address for address, w in client.scheduler_info()["workers"].items() if w["name"] == "w0")
    assert summary.batches.failed == 0 and summary.batches.completed == summary.batches.total > 0
    total = finished["summary"].batches.total
    assert finished["summary"].batches.completed == total == 33
    workers = {worker for _, worker in finished["background"] + finished["urgent"]}
    assert workers == {gpu_worker}  # only w0 offers GPU=1
    urgent_end = max(t for t, _ in finished["urgent"])
    waited = sum(t > urgent_end for t, _ in finished["background"])
    assert waited >= 2 * total / 3, f"only {waited} of {total} background batches ran after the urgent run"
