"""A killed or interrupted run resumes to exactly the trust of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from analytics import OptimizedTrustTracker
from recursive_training import BatchStatus, RunResults, read_results

from .conftest import PYTHON, REPO, daily_frame
from .test_cli import cli

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RUN = ["run", "--store", "store", "--start", "2020-05-01", "--end", "2021-01-01", "--batch-size-days", "20",
       "--variables-per-batch", "1", "--model", "naive,ar,mlp", "--epochs", "200", "--lags", "14",
       "--lookback", "120", "--decay-half-life-days", "90", "--dashboard-port", "0", "--no-progress",
       "--run-id", "long"]
BATCHES = 39  # 13 windows of 20 days on the grid from 1970 meet the range, x 3 variables


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    frame = daily_frame()
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(root / "wide.csv", index=False)
    assert cli("ingest", "wide.csv", "--store", "store", cwd=root).returncode == 0
    done = cli(*RUN, "--output-dir", "reference", cwd=root)
    assert done.returncode == 0, done.stderr
    return root


def batch_lines(journal: Path) -> list[dict]:
    if not journal.exists():
        return []
    lines = journal.read_text().split("\n")[:-1]  # only complete lines
    return [r for r in map(json.loads, lines) if r.get("kind") != "run"]


def start_run(workspace: Path, output: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, str(REPO / "run_training.py"), *RUN, "--output-dir", output], cwd=workspace,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_batches(journal: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(batch_lines(journal)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(0.05)


def results(workspace: Path, output: str) -> RunResults:
    return read_results(workspace / output / "long" / "results.json")


def assert_same_trust(workspace: Path, output: str) -> None:
    got, want = results(workspace, output).summary, results(workspace, "reference").summary
    assert got.batches.completed == want.batches.completed == got.batches.total
    for variable, pairs in want.variables.items():
        for model, entry in pairs.items():
            mine = got.variables[variable][model]
            assert mine.scores.to_dict() == entry.scores.to_dict()
            for field in ("alpha", "beta", "mean", "low", "high"):
                assert getattr(mine.trust, field) == pytest.approx(getattr(entry.trust, field), rel=1e-12), \
                    (variable, model)
            counts = ("successes", "failures", "origins", "windows")
            assert [getattr(mine.trust, c) for c in counts] == [getattr(entry.trust, c) for c in counts]
            assert entry.trust.origins == entry.scores.n_origins  # each forecast once
    with OptimizedTrustTracker(workspace / output / "trust.sqlite", decay_half_life_days=90) as tracker:
        assert sum(e.origins for e in tracker.estimates()) == sum(
            e.scores.n_origins for pairs in want.variables.values() for e in pairs.values())


def test_sigkill_of_the_coordinator_then_resume(workspace):
    journal = workspace / "killed" / "long" / "journal.jsonl"
    process = start_run(workspace, "killed")
    wait_for_batches(journal, 4, process)
    os.killpg(process.pid, signal.SIGKILL)  # the coordinator and its local cluster, mid-run
    process.wait(30)
    finished_before = {r["batch_id"] for r in batch_lines(journal)}
    assert 4 <= len(finished_before) < BATCHES

    again = cli(*RUN, "--output-dir", "killed", cwd=workspace)
    assert again.returncode == 1 and "--resume" in again.stderr  # never silently recomputes
    resumed = cli(*RUN, "--output-dir", "killed", "--resume", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished_before)} already done" in resumed.stderr
    done_ids = [r["batch_id"] for r in batch_lines(journal) if r["status"] == "done"]
    assert len(done_ids) == len(set(done_ids)) == BATCHES  # no batch computed twice
    listed = results(workspace, "killed").batches  # read back from the journal, then this attempt's
    assert sorted(b.batch_id for b in listed) == sorted(done_ids)
    assert [b.batch_id for b in listed if b.resumed] == [b.batch_id for b in listed][:len(finished_before)]
    assert {b.batch_id for b in listed if b.resumed} == finished_before
    assert_same_trust(workspace, "killed")


def test_ctrl_c_stops_keeps_finished_work_and_says_how_to_resume(workspace):
    journal = workspace / "interrupted" / "long" / "journal.jsonl"
    process = start_run(workspace, "interrupted")
    wait_for_batches(journal, 3, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and f"of {BATCHES} batches finished" in last and "--resume" in last
    partial = results(workspace, "interrupted")
    statuses = [b.status for b in partial.batches]
    assert statuses.count(BatchStatus.DONE) == partial.summary.batches.completed >= 3
    assert statuses.count(BatchStatus.NOT_RUN) > 0 and statuses.count(BatchStatus.FAILED) == 0
    assert "variable" in stdout  # the partial trust table

    resumed = cli(*RUN, "--output-dir", "interrupted", "--resume", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_trust(workspace, "interrupted")


def test_sigterm_stops_like_ctrl_c_and_exits_143(workspace):
    journal = workspace / "terminated" / "long" / "journal.jsonl"
    process = start_run(workspace, "terminated")
    wait_for_batches(journal, 3, process)
    process.send_signal(signal.SIGTERM)  # what `kill`, systemd and container runtimes send the main process
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("terminated (SIGTERM): ") and f"of {BATCHES} batches finished" in last
    assert f"continue with: {PYTHON} " in last and last.endswith("--resume")  # the interpreter that ran it
    partial = results(workspace, "terminated")
    assert partial.summary.batches.completed >= 3 and "variable" in stdout
    resumed = cli(*RUN, "--output-dir", "terminated", "--resume", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_trust(workspace, "terminated")
