"""The coordinator and the one-call API on a real LocalCluster."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from analytics import OptimizedTrustTracker
from recursive_training import (
    ParallelTrainingCoordinator,
    TrainingConfig,
    run_parallel_retrodiction_training,
)
from recursive_training.base import ConfigError, DataError, UnknownVariableError
from recursive_training.metrics import MetricsStore
from recursive_training.records import SCHEMA_VERSION, BatchCounts, read_results

from .conftest import PYTHON, REPO, hold_the_head_start, longhand_design_effect

pytestmark = pytest.mark.cluster

START, END = "2020-09-01", "2021-03-01"
HORIZON, LOOKBACK = 5, 120


def run_options(tmp_path, **extra):
    return dict(batch_size_days=60, max_workers=2, dask_dashboard_port=0, variables_per_batch=2,
                models=("naive", "ar", "mlp"), horizon=HORIZON, lookback=LOOKBACK, epochs=30, lags=7,
                output_dir=tmp_path / "runs", **extra)


def loop_naive_scores(frame: pd.DataFrame, variable: str) -> tuple[float, int, int]:
    """Naive MAE and success counts over all windows, by plain loops over the raw frame."""
    ts = list(frame["timestamp"])
    y = list(frame[variable])
    # 60-day windows on the grid from 1970-01-01; the run's range only clips which origins count
    grid = pd.date_range("1970-01-01", "2022-01-01", freq="60D")
    windows = [(lo, hi) for lo, hi in zip(grid[:-1], grid[1:]) if hi > pd.Timestamp(START) and lo < pd.Timestamp(END)]
    errors, successes, failures = [], 0, 0
    for lo, hi in windows:
        first = next(i for i, t in enumerate(ts) if t >= lo)
        train = y[max(0, first - LOOKBACK):first]
        scale = sum(abs(train[i] - train[i - 1]) for i in range(1, len(train))) / (len(train) - 1)
        for i, t in enumerate(ts):
            if max(lo, pd.Timestamp(START)) <= t < min(hi, pd.Timestamp(END)) and i + HORIZON < len(ts):
                for k in range(1, HORIZON + 1):
                    e = abs(y[i + k] - y[i])
                    errors.append(e)
                    successes += e / scale <= 1.0
                    failures += e / scale > 1.0
    return sum(errors) / len(errors), successes, failures


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, shared_client):
    from recursive_training.data import RecursiveDataStore

    from .conftest import daily_frame

    tmp_path = tmp_path_factory.mktemp("run")
    frame = daily_frame()
    RecursiveDataStore(tmp_path / "store", create=True).ingest(frame)
    calls = []
    summary = run_parallel_retrodiction_training(
        None, START, END, tmp_path / "store", progress_callback=lambda *a: calls.append(a), client=shared_client,
        **run_options(tmp_path))
    return tmp_path, frame, summary, calls


def test_every_batch_completes_with_progress(finished_run):
    _, _, summary, calls = finished_run
    assert summary.batches == BatchCounts(total=8, completed=8, resumed=0, failed=0, not_run=0)
    assert calls[0][0] == 0 and calls[0][2] is None
    assert [c[0] for c in calls[1:]] == list(range(1, 9)) and all(c[1] == 8 for c in calls)
    assert summary.dashboard_link.startswith("http://127.0.0.1:")


def test_naive_scores_match_an_independent_loop(finished_run):
    _, frame, summary, _ = finished_run
    for variable in ("walk", "seasonal", "sine"):
        mae, successes, failures = loop_naive_scores(frame, variable)
        scores = summary.variables[variable]["naive"].scores
        assert scores.mae == pytest.approx(mae, rel=1e-12)
        assert (scores.successes, scores.failures) == (successes, failures)


def test_trust_is_the_beta_posterior_of_all_outcomes_over_the_design_effect(finished_run):
    tmp_path, _, summary, _ = finished_run
    results = json.loads((tmp_path / "runs" / summary.run_id / "results.json").read_text())  # the file as written
    for variable, pairs in summary.variables.items():
        for model, pair in pairs.items():
            scored = [(b["result"]["window_index"], o["score"]) for b in results["batches"]
                      for o in b["result"]["outcomes"] if (o["variable"], o["model"]) == (variable, model)]
            s, f = sum(x["successes"] for _, x in scored), sum(x["failures"] for _, x in scored)
            d = longhand_design_effect([(w, x["successes"], x["n"]) for w, x in scored])  # one entry per window
            trust = pair.trust
            assert trust.design_effect == pytest.approx(d, rel=1e-9)
            assert trust.alpha == pytest.approx(1 + s / d) and trust.beta == pytest.approx(1 + f / d)
            assert trust.mean == pytest.approx((1 + s / d) / (2 + (s + f) / d))
            assert (trust.successes, trust.failures) == (s, f)
    with OptimizedTrustTracker(tmp_path / "runs" / "trust.sqlite") as tracker:
        assert len(tracker.estimates()) == 9


def test_seasonal_models_earn_more_trust_than_naive_on_seasonal_data(finished_run):
    _, _, summary, _ = finished_run
    seasonal = summary.variables["seasonal"]
    assert seasonal["ar"].trust.mean > seasonal["naive"].trust.mean + 0.2
    assert summary.per_model["ar"].scores.skill > 0


def test_parallel_results_equal_an_in_process_run(finished_run):
    tmp_path, _, summary, _ = finished_run
    results = read_results(tmp_path / "runs" / summary.run_id / "results.json")
    config = TrainingConfig.from_mapping({**results.config, "workers": 0, "output_dir": tmp_path / "serial"})
    serial = ParallelTrainingCoordinator(config).start_training()
    assert serial.dashboard_link is None and serial.batches.completed == 8
    assert serial.to_dict()["variables"] == summary.to_dict()["variables"]  # every score and posterior, bit for bit
    assert serial.metrics.stored == serial.metrics.sent == summary.metrics.sent
    journal = (tmp_path / "serial" / summary.run_id / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 1 + 8


def test_metrics_arrive_in_the_store(finished_run):
    tmp_path, _, summary, _ = finished_run
    assert summary.metrics.sent > 500
    assert summary.metrics.stored == summary.metrics.sent
    results = read_results(tmp_path / "runs" / summary.run_id / "results.json")
    with MetricsStore(tmp_path / "runs" / "metrics.sqlite") as store:
        by_batch = store.counts_by_batch(summary.run_id)
        assert by_batch == {b.batch_id: b.result.metrics_sent for b in results.batches}
        mae = store.query(run_id=summary.run_id, variable="walk", model="naive", name="mae")
        assert len(mae) == 4


def test_each_batch_reports_peak_memory(finished_run):
    tmp_path, _, summary, _ = finished_run
    results = read_results(tmp_path / "runs" / summary.run_id / "results.json")
    for batch in results.batches:
        assert batch.result.peak_memory_mib > 50  # a worker with numpy, pandas, torch loaded
        assert batch.result.peak_memory_mib >= batch.result.memory_increase_mib >= 0
        assert batch.result.worker.startswith("tcp://127.0.0.1:")
    assert summary.peak_memory_mib == max(b.result.peak_memory_mib for b in results.batches)


def test_journal_holds_every_batch_and_rerun_needs_resume(finished_run):
    tmp_path, _, summary, _ = finished_run
    journal = tmp_path / "runs" / summary.run_id / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert all(r["schema"] == SCHEMA_VERSION for r in records)
    assert records[0]["kind"] == "run" and records[0]["run_id"] == summary.run_id
    assert records[0]["models"] == ["naive", "ar", "mlp(epochs=30,lags=7)"]
    assert records[0]["procedure"]["horizon"] == HORIZON and records[0]["procedure"]["batch_size_days"] == 60
    assert sorted(r["batch_id"] for r in records[1:]) == sorted(summary_batches(tmp_path, summary))
    with pytest.raises(ConfigError, match="--resume"):
        run_parallel_retrodiction_training(None, START, END, tmp_path / "store", **run_options(tmp_path))
    resumed = run_parallel_retrodiction_training(None, START, END, tmp_path / "store",
                                                 **run_options(tmp_path, resume=True))
    assert resumed.batches.resumed == 8 and resumed.dashboard_link is None  # no cluster needed
    assert resumed.to_dict()["variables"] == summary.to_dict()["variables"]  # trust not counted twice
    assert len(journal.read_text().splitlines()) == 1 + 8


def summary_batches(tmp_path, summary):
    return [b.batch_id for b in read_results(tmp_path / "runs" / summary.run_id / "results.json").batches]


def test_preflight_errors(finished_run):
    tmp_path = finished_run[0]
    store = tmp_path / "store"
    with pytest.raises(UnknownVariableError, match="'nope'"):
        run_parallel_retrodiction_training(["nope"], START, END, store, **run_options(tmp_path))
    with pytest.raises(ConfigError, match="lookback"):
        run_parallel_retrodiction_training(None, START, END, store, **{**run_options(tmp_path), "lookback": "10Q"})
    with pytest.raises(DataError, match="no observations"):
        run_parallel_retrodiction_training(None, "2030-01-01", "2030-06-01", store, **run_options(tmp_path))


def test_stop_training_keeps_finished_batches_and_cancels_the_rest(tmp_path, store_dir):
    config = TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-06-01", "end": "2021-08-01", "batch_size_days": 14,
        "variables_per_batch": 1, "models": ("naive", "mlp"), "epochs": 200, "lookback": 100,
        "dashboard_port": 0, "workers": 1, "output_dir": tmp_path / "runs",
    })
    coordinator = ParallelTrainingCoordinator(config)

    def stop_after_two(done, total, batch):
        if done >= 2:
            coordinator.stop_training()

    summary = coordinator.start_training(stop_after_two)
    counts = summary.batches
    assert counts.total == 93 and counts.failed == 0
    assert 2 <= counts.completed < 10 and counts.not_run == 93 - counts.completed
    assert coordinator._client is None and coordinator._cluster is None  # shut down
    journal = (config.run_dir / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 1 + counts.completed
    path = coordinator.save_results_to_file()
    statuses = [b["status"] for b in json.loads(path.read_text())["batches"]]  # as the file spells them
    assert statuses.count("done") == counts.completed and statuses.count("not run") == counts.not_run


def test_the_dashboard_counts_finished_batches_until_the_run_ends(tmp_path, store_dir, shared_client):
    """Finished futures are held until the end, so the scheduler (and the Progress panel) shows done / total."""
    config = TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-06-01", "end": "2020-09-01", "batch_size_days": 30,
        "variables_per_batch": 1, "models": ("naive",), "output_dir": tmp_path / "runs"})
    coordinator = ParallelTrainingCoordinator(config, client=shared_client)
    seen = []

    def count_on_scheduler(done, total, batch):
        if batch is not None:
            seen.append((done, coordinator.client.run_on_scheduler(
                lambda dask_scheduler: sum(1 for ts in dask_scheduler.tasks.values()
                                           if str(ts.key).startswith("retrodict-") and ts.state == "memory"))))

    coordinator.start_training(count_on_scheduler)
    assert len(seen) == len(coordinator.batches) >= 4
    # every finished batch is still held (more may have finished by the time the scheduler answers)
    assert all(done <= held <= len(coordinator.batches) for done, held in seen), seen
    assert seen[-1] == (len(coordinator.batches), len(coordinator.batches))


@pytest.mark.slow
def test_workers_that_join_later_are_prepared_too(tmp_path, store_dir):
    """A worker the cluster adds mid-run gets single-threaded torch, the warm-up and its start-up objects
    frozen out of garbage collections, like the first ones; a run in this process freezes the caller's objects
    only while it runs and leaves the caller's torch threads as they were."""
    import gc

    import torch
    from distributed import Client, LocalCluster

    config = TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-06-01", "end": "2020-10-01", "batch_size_days": 30,
        "variables_per_batch": 1, "models": ("naive", "mlp"), "epochs": 2, "output_dir": tmp_path / "runs"})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        coordinator = ParallelTrainingCoordinator(config, client=client)
        coordinator.start_training(lambda done, total, batch: done == 1 and cluster.scale(2))
        client.wait_for_workers(2, timeout=60)
        threads = client.run(lambda: __import__("torch").get_num_threads())
        assert len(threads) == 2 and set(threads.values()) == {1}, threads
        frozen = client.run(lambda: __import__("gc").get_freeze_count())
        assert len(frozen) == 2 and min(frozen.values()) > 10_000, frozen  # distributed, pandas and torch at least
    before, unfrozen = torch.get_num_threads(), gc.get_freeze_count()
    in_process = dataclasses.replace(config, workers=0, output_dir=tmp_path / "serial")
    during = []
    ParallelTrainingCoordinator(in_process).start_training(
        lambda done, total, batch: batch is not None and during.append(gc.get_freeze_count()))  # as batches finish
    assert torch.get_num_threads() == before
    assert min(during) > 10_000 and gc.get_freeze_count() == unfrozen


def test_batches_run_here_while_the_cluster_starts_are_computed_and_counted_once(tmp_path, store_dir):
    """Our own local cluster starts in the background while the smallest batches run in this process;
    the cluster gets only the rest, so every batch runs once and the trust is that of a run wholly in-process.
    (Torch models never run here: see the next test.)"""
    options = {"store_path": store_dir, "start": "2020-05-01", "end": "2021-05-01", "batch_size_days": 14,
               "variables_per_batch": 1, "models": ("naive", "ar"), "lookback": 100, "dashboard_port": 0}
    coordinator = ParallelTrainingCoordinator(TrainingConfig.from_mapping(
        {**options, "workers": 2, "output_dir": tmp_path / "handover"}))
    summary = coordinator.start_training(hold_the_head_start(coordinator))
    batches = read_results(coordinator.save_results_to_file()).batches
    where = {b.batch_id: b.result.worker for b in batches}
    here = {b for b, worker in where.items() if worker == "in-process"}
    assert here and len(here) < len(where) == summary.batches.total == summary.batches.completed
    assert all(worker.startswith("tcp://127.0.0.1:") for b, worker in where.items() if b not in here)
    assert len(batches) == len(where) and {b.attempts for b in batches} == {1}
    journal = [json.loads(line) for line in (coordinator.config.run_dir / "journal.jsonl").read_text().splitlines()]
    done = [r["batch_id"] for r in journal if r.get("status") == "done"]
    assert sorted(done) == sorted(where)  # each batch journalled once
    assert summary.timings["connect_seconds"] > 0 and summary.dashboard_link  # the cluster did start
    serial = ParallelTrainingCoordinator(TrainingConfig.from_mapping(
        {**options, "workers": 0, "output_dir": tmp_path / "serial"})).start_training()
    assert serial.to_dict()["variables"] == summary.to_dict()["variables"]  # counted once, bit for bit


def test_a_ready_cluster_gets_the_rest_at_once_while_a_batch_still_runs_here(tmp_path, store_dir, monkeypatch):
    """The head start's batch still running must not keep a ready cluster idle: here, that batch cannot
    finish until the cluster has recorded a batch of its own, which it could only do if it got the rest at
    once. Every batch still runs and is journalled once."""
    import threading

    from recursive_training.execution import InProcessExecutor

    cluster_recorded = threading.Event()
    real_attempt = InProcessExecutor.attempt

    def attempt_waiting_for_the_cluster(self, batch):
        result = real_attempt(self, batch)
        cluster_recorded.wait(60)
        return result

    def progress(done, total, batch):
        if batch is not None and batch.result is not None and batch.result.worker.startswith("tcp://"):
            cluster_recorded.set()

    monkeypatch.setattr(InProcessExecutor, "attempt", attempt_waiting_for_the_cluster)
    coordinator = ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-05-01", "end": "2021-05-01", "batch_size_days": 14,
        "variables_per_batch": 1, "models": ("naive",), "workers": 2, "dashboard_port": 0,
        "output_dir": tmp_path / "out"}))
    started = time.monotonic()
    summary = coordinator.start_training(progress)
    assert time.monotonic() - started < 60  # the batch here never waited its 60 s out
    where = {b.batch_id: b.result.worker for b in read_results(coordinator.save_results_to_file()).batches}
    assert list(where.values()).count("in-process") == 1 and summary.batches.completed == summary.batches.total
    journal = [json.loads(line) for line in (coordinator.config.run_dir / "journal.jsonl").read_text().splitlines()]
    done = [r["batch_id"] for r in journal if r.get("status") == "done"]
    assert sorted(done) == sorted(where) and where[done[0]].startswith("tcp://")  # once each; the cluster's first


def test_workers_auto_keeps_a_small_plan_here_and_gives_a_large_one_a_cluster(tmp_path, store_dir):
    """One batch runs here first; its time prices the rest against starting a cluster (about 3 s). The large
    plan is 78 batches of 1,000-epoch MLPs: 150 epochs came to about 5 s in all once MLPs trained faster, and
    500 epochs to 5.9 s once a fitted MLP kept its tensors; each rightly stayed here."""
    from recursive_training.config import available_cores

    if available_cores() < 2:
        pytest.skip("one core: a cluster never pays")
    small = ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-11-01", "end": "2021-01-01", "batch_size_days": 30,
        "models": ("naive",), "workers": "auto", "output_dir": tmp_path / "small"}))
    small.start_training()
    assert small.dashboard_link is None and len(small.notes) == 1 and "in this process" in small.notes[0], small.notes
    assert {b.result.worker for b in read_results(small.save_results_to_file()).batches} == {"in-process"}
    large = ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-05-01", "end": "2021-05-01", "batch_size_days": 14,
        "variables_per_batch": 1, "models": ("mlp",), "epochs": 1000, "lookback": 120, "dashboard_port": 0,
        "workers": "auto", "output_dir": tmp_path / "large"}))
    # once the probe has chosen a cluster (its note), batches done here wait for it to connect
    summary = large.start_training(hold_the_head_start(
        large, starting=lambda: any("a local cluster" in note for note in large.notes)))
    assert len(large.notes) == 1 and f"a local cluster of {available_cores()} workers" in large.notes[0], large.notes
    batches = read_results(large.save_results_to_file()).batches
    workers = [b.result.worker for b in batches]
    assert workers.count("in-process") >= 1 and any(w.startswith("tcp://") for w in workers), (large.notes, workers)
    assert summary.batches.completed == summary.batches.total and {b.attempts for b in batches} == {1}


@pytest.mark.parametrize("torch_here", [False, True])
def test_a_torch_run_on_our_own_cluster_never_imports_torch_here(tmp_path, store_dir, torch_here):
    """Importing torch here for a head start took as long as the cluster's start on 2 cores, and where torch
    is imported already, training here slowed the cluster's start and its workers: the workers get every
    batch, and this process stays free of torch unless it had it."""
    code = f"""
import sys
{"import torch" if torch_here else ""}
from recursive_training import ParallelTrainingCoordinator, TrainingConfig, read_results
coordinator = ParallelTrainingCoordinator(TrainingConfig.from_mapping({{
    "store_path": {str(store_dir)!r}, "start": "2020-09-01", "end": "2021-01-01", "batch_size_days": 30,
    "models": ("naive", "mlp"), "epochs": 2, "workers": 2, "dashboard_port": 0,
    "output_dir": {str(tmp_path / "runs")!r}}}))
summary = coordinator.start_training()
batches = read_results(coordinator.save_results_to_file()).batches
workers = {{b.result.worker.split(":")[0] for b in batches}}
print(summary.batches.completed == summary.batches.total > 0, sorted(workers), "torch" in sys.modules)
"""
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == f"True ['tcp'] {torch_here}"


@pytest.mark.parametrize("workers, warned", [(2, True), (0, False), ("auto", False)])
def test_tiny_batches_are_warned_about_when_planned_for_a_cluster(tmp_path, store_dir, workers, warned):
    """The warning is about Dask's per-task overhead: given with the plan for a cluster, never in-process;
    auto gives it only if it chooses a cluster (the test above)."""
    coordinator = ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-06-01", "end": "2020-08-01", "batch_size_days": 1,
        "variables_per_batch": 1, "workers": workers, "output_dir": tmp_path}))
    coordinator.prepare_training_batches()
    coordinator.prepare_training_batches()  # a run plans again when it starts: still one warning
    assert [w.startswith("batches are small") for w in coordinator.warnings] == ([True] if warned else [])


def test_a_run_keeps_every_forecasts_error_once(tmp_path, store_dir, frame):
    """The naive forecast from origin t is y(t), so its error at step k is y(t) - y(t + k), computed
    here from the frame; a second run over the same range adds nothing."""
    from analytics import OptimizedTrustTracker

    options = {"store_path": store_dir, "start": "2020-06-01", "end": "2020-09-01", "batch_size_days": 30,
               "models": ("naive",), "horizon": 3, "workers": 0}
    first = ParallelTrainingCoordinator(TrainingConfig.from_mapping({**options, "output_dir": tmp_path / "a"}))
    first.start_training()
    ParallelTrainingCoordinator(TrainingConfig.from_mapping(  # another run id, the same trust database
        {**options, "output_dir": tmp_path / "a", "run_id": "again"})).start_training()
    values = frame.set_index("timestamp")["walk"]
    with OptimizedTrustTracker(first.config.trust_db_path) as tracker:
        key = next(k for k in tracker.keys() if k.variable == "walk")
        kept = tracker.forecast_errors(key)
    origins = pd.to_datetime(kept.origins)
    assert len(origins) == len(set(origins)) == (pd.Timestamp("2020-09-01") - pd.Timestamp("2020-06-01")).days
    expected = np.array([[values[t] - values[t + pd.Timedelta(days=k)] for k in (1, 2, 3)] for t in origins])
    np.testing.assert_allclose(kept.errors, expected, rtol=0, atol=1e-12)


KEPT_PER_BATCH = """
import dataclasses, gc, sys, tracemalloc
from pathlib import Path
from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.worker_task import process_batch

config = TrainingConfig.from_mapping({
    "store_path": sys.argv[1], "start": "2020-06-01", "end": "2020-07-01", "batch_size_days": 30,
    "models": ("naive", "ar"), "workers": 0, "output_dir": sys.argv[2], "report": False})
coordinator = ParallelTrainingCoordinator(config)
batch = coordinator.prepare_training_batches()[0]
chunks = []
result = process_batch(batch, config, chunks.append)
recorder = coordinator._recorder
recorder.open()

def record(first, count):
    for group in range(first, first + count, 50):  # as the executor hands them over: one fsync a group
        ids = [f"b{i}" for i in range(group, group + 50)]
        coordinator.batches_done([(dataclasses.replace(batch, batch_id=batch_id),
                                   dataclasses.replace(result, batch_id=batch_id).encoded()) for batch_id in ids])
        for batch_id in ids:
            for chunk in chunks:
                recorder.receive_metrics({**chunk, "batch_id": batch_id})
        metrics = recorder.wait_for_metrics()  # each group's metrics stored
        assert metrics.stored == metrics.sent == (group + 50) * result.metrics_sent
    recorder.current_trust([])  # the trust buffer written out: nothing in flight is counted
    gc.collect()

record(0, 100)
tracemalloc.start()
record(100, 100)  # what is bounded (queues, dict capacity, the last group) fills up once
before = tracemalloc.get_traced_memory()[0]
record(200, 300)
grown = tracemalloc.get_traced_memory()[0] - before
tracemalloc.stop()
coordinator._close_run(failing=False)
print(grown / 300, coordinator._done_count())
"""


def test_the_coordinator_keeps_nothing_of_a_recorded_batch_in_memory(tmp_path, store_dir):
    """A run of 100,000 batches must not hold 100,000 results: once an outcome is journalled, tallied and
    spilled, and its metrics stored, the coordinator's memory (tracemalloc counts every allocation, in a
    process of its own) does not grow with it. Keeping each slim result, as it once did, cost over 300 bytes
    an outcome here."""
    done = subprocess.run([PYTHON, "-c", KEPT_PER_BATCH, str(store_dir), str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    per_batch, recorded = done.stdout.split()
    assert float(per_batch) < 32, f"{float(per_batch):.0f} bytes kept per recorded batch"
    assert recorded == "500"
