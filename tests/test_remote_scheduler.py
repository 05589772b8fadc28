"""A run against a real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from .conftest import daily_frame, dask_processes
from .test_cli import cli

pytestmark = pytest.mark.cluster

@pytest.fixture
def scheduler_with_two_workers(tmp_path):
    with dask_processes(tmp_path) as cluster:
        yield cluster.address
    assert cluster.scheduler.poll() is not None
    assert all(p.poll() is not None for p in cluster.workers.values())


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
