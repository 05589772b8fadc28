"""Killing a worker mid-run loses nothing: every batch completes, results equal an undisturbed run."""

from __future__ import annotations

import os
import signal

import pytest

from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.data import RecursiveDataStore

from .conftest import daily_frame, dask_processes

pytestmark = pytest.mark.cluster


def config_for(tmp_path, store, name, **extra):
    return TrainingConfig.from_mapping({
        "store_path": store, "start": "2020-07-01", "end": "2021-03-01", "batch_size_days": 30,
        "variables_per_batch": 1, "models": ("naive", "ar", "mlp"), "epochs": 150, "lags": 10,
        "lookback": 150, "dashboard_port": 0, "output_dir": tmp_path / name, **extra,
    })


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("loss")
    store = tmp_path / "store"
    RecursiveDataStore(store, create=True).ingest(daily_frame())
    summary = ParallelTrainingCoordinator(config_for(tmp_path, store, "undisturbed")).start_training()
    assert summary["batches"]["completed"] == summary["batches"]["total"] == 27
    return tmp_path, store, summary


def assert_same_outcome(summary, reference):
    assert summary["batches"]["completed"] == reference["batches"]["completed"]
    assert summary["batches"]["failed"] == 0
    assert summary["variables"] == reference["variables"]  # every score and every trust posterior


def test_sigkill_of_a_remote_worker(undisturbed):
    tmp_path, store, reference = undisturbed
    with dask_processes(tmp_path, nanny=False) as cluster:
        coordinator = ParallelTrainingCoordinator(config_for(tmp_path, store, "remote", scheduler_address=cluster.address))
        killed = []

        def kill_the_other_worker(done, total, batch):
            if batch is None or killed:
                return
            names = {a: w["name"] for a, w in coordinator.client.scheduler_info()["workers"].items()}
            victim = next(name for addr, name in names.items() if addr != batch.results["worker"])
            cluster.workers[victim].send_signal(signal.SIGKILL)
            killed.append(victim)

        summary = coordinator.start_training(kill_the_other_worker)
        assert killed and cluster.workers[killed[0]].wait(10) == -signal.SIGKILL
    assert_same_outcome(summary, reference)
    assert sum(coordinator.attempts.counts.values()) > 27  # the kill interrupted a running batch


def test_sigkill_of_a_local_worker_restarted_by_its_nanny(undisturbed):
    tmp_path, store, reference = undisturbed
    coordinator = ParallelTrainingCoordinator(config_for(tmp_path, store, "local"))
    killed = []

    def kill_the_other_worker(done, total, batch):
        if batch is None or killed:
            return
        pids = coordinator.client.run(os.getpid)
        victim = next(addr for addr in pids if addr != batch.results["worker"])
        os.kill(pids[victim], signal.SIGKILL)
        killed.append(pids[victim])

    summary = coordinator.start_training(kill_the_other_worker)
    assert killed
    assert_same_outcome(summary, reference)
    assert sum(coordinator.attempts.counts.values()) > 27
