"""Workers as SLURM jobs through dask-jobqueue, on a real single-node SLURM; adaptive local clusters."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import dask
import pytest

from recursive_training import ParallelTrainingCoordinator, TrainingConfig, read_results
from recursive_training.base import ConfigError
from recursive_training.data import RecursiveDataStore

from .conftest import PYTHON, REPO, daily_frame
from .slurm import single_node_slurm, squeue

pytestmark = pytest.mark.cluster

SLURM_WORKER = {"kind": "slurm", "cores": 1, "memory": "1GB", "interface": "lo", "walltime": "00:15:00",
                "job_name": "rt-worker", "job_extra_directives": ["--comment=retrodiction"]}


@pytest.fixture(scope="module")
def slurm():
    with single_node_slurm() as env:
        saved = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = env["SLURM_CONF"]  # dask-jobqueue calls sbatch and scancel from this process
        try:
            yield env
        finally:
            if saved is None:
                os.environ.pop("SLURM_CONF")
            else:
                os.environ["SLURM_CONF"] = saved


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The store, and an undisturbed in-process run's summary to compare every cluster's run against."""
    root = tmp_path_factory.mktemp("jobqueue")
    store = root / "store"
    RecursiveDataStore(store, create=True).ingest(daily_frame())
    summary = ParallelTrainingCoordinator(config_for(root, store, "in-process", workers=0)).start_training()
    assert summary.batches.completed == summary.batches.total == 27
    return root, store, summary


def config_for(root, store, name, **extra) -> TrainingConfig:
    return TrainingConfig.from_mapping({
        "store_path": store, "start": "2020-07-01", "end": "2021-03-01", "batch_size_days": 30,
        "variables_per_batch": 1, "models": ("naive", "ar", "mlp"), "epochs": 60, "lags": 10, "lookback": 150,
        "dashboard_port": 0, "output_dir": root / name, **extra,
    })


def assert_same_outcome(summary, reference) -> None:
    assert summary.batches.failed == 0
    assert summary.batches.completed == reference.batches.completed
    assert summary.to_dict()["variables"] == reference.to_dict()["variables"]  # every score and trust posterior


def job_fields(job_id: str, env: dict[str, str]) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", shown))


@pytest.mark.slow
@pytest.mark.slurm
def test_a_cancelled_slurm_job_is_survived_and_replaced(slurm, reference):
    root, store, undisturbed = reference
    config = config_for(root, store, "slurm", cluster=SLURM_WORKER, workers=2, min_workers=1)
    coordinator = ParallelTrainingCoordinator(config)
    cancelled: list[str] = []
    jobs_seen: set[str] = set()
    settings: dict[str, str] = {}

    def note_jobs() -> None:
        cluster = coordinator._cluster
        if cluster is not None:
            jobs_seen.update(job.job_id for job in list(cluster.workers.values()) if job.job_id)

    def watch_jobs() -> None:  # all along, not only when a batch finishes: the last may finish before the
        while not finished.wait(0.1):  # replacement job is submitted, and no progress call would see it
            note_jobs()

    def cancel_the_other_job(done, total, batch):
        note_jobs()
        if coordinator._cluster is None:
            return
        cluster = coordinator._cluster
        workers = coordinator.client.scheduler_info(n_workers=-1)["workers"]
        if batch is None or cancelled or len(workers) < 2:
            return
        victim = next(w["name"] for address, w in workers.items() if address != batch.result.worker)
        job_id = cluster.workers[victim].job_id
        settings.update(job_fields(job_id, slurm))
        subprocess.run(["scancel", job_id], env=slurm, check=True)
        cancelled.append(job_id)
        deadline = time.monotonic() + 30  # the run stays open until the replacement is submitted: the
        while len(jobs_seen) < 3 and time.monotonic() < deadline:  # batches left may take less time than
            time.sleep(0.1)  # Dask needs to give the lost worker up (1 s) and adapt (each second)

    import distributed  # noqa: F401  (before dask.config.set: else leaving it drops every distributed default)

    finished = threading.Event()
    watcher = threading.Thread(target=watch_jobs, daemon=True)
    watcher.start()
    # Dask's default waits 15 s for a lost worker; and adaptive scaling keeps 2 workers only while the queued
    # work exceeds its target duration (5 s by default), which the MLPs, trained faster now, no longer filled
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1s", "distributed.adaptive.target-duration": "0.2s"}):
        try:
            summary = coordinator.start_training(cancel_the_other_job)
        finally:
            finished.set()
            watcher.join()
    assert cancelled, "both workers never ran at once"
    assert_same_outcome(summary, undisturbed)
    assert len(jobs_seen) >= 3  # two at the start, and one submitted in place of the cancelled job
    # the [cluster] settings reached the batch system
    assert settings["JobName"] == "rt-worker" and settings["TimeLimit"] == "00:15:00"
    assert settings["Comment"] == "retrodiction" and settings["Partition"] == "debug"
    assert any(note.startswith("cluster: slurm, 1 to 2 workers, adaptive, 2 task slots") for note in coordinator.notes)
    assert list((config.run_dir / "worker-jobs").glob("*.err"))  # job logs in the run, not the current directory
    deadline = time.monotonic() + 30
    while squeue(slurm) and time.monotonic() < deadline:  # closing the run cancels its jobs
        time.sleep(0.2)
    assert squeue(slurm) == []


@pytest.mark.slurm
def test_cli_runs_on_slurm_with_the_config_files_cluster_table(slurm, reference, tmp_path):
    root, store, _ = reference
    (tmp_path / "run.toml").write_text(
        f'store_path = "{store}"\nstart = "2020-07-01"\nend = "2021-03-01"\nbatch_size_days = 60\n'
        'models = ["naive", "ar"]\nlookback = 150\ndashboard_port = 0\n'
        '[cluster]\ncores = 1\nmemory = "1GB"\ninterface = "lo"\nwalltime = "00:10:00"\n')
    done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "run", "--config", "run.toml", "--cluster", "slurm",
                           "--workers", "1", "--output-dir", "slurm-runs", "--no-progress", "--no-report"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "cluster: slurm, 1 workers, adaptive, 1 task slots" in done.stderr
    here = subprocess.run([PYTHON, str(REPO / "run_training.py"), "run", "--config", "run.toml", "--cluster", "local",
                           "--workers", "0",
                           "--output-dir", "in-process", "--no-progress", "--no-report"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert here.returncode == 0, here.stderr
    table = lambda text: [line for line in text.splitlines() if line.startswith(("seasonal", "sine", "walk"))]  # noqa: E731
    assert table(done.stdout) and table(done.stdout) == table(here.stdout)
    assert not list(tmp_path.glob("slurm-*.out"))  # no job output dropped into the current directory


def test_a_setting_the_job_queue_does_not_know_is_one_line(reference, tmp_path):
    root, store, _ = reference
    (tmp_path / "run.toml").write_text(f'store_path = "{store}"\n[cluster]\nkind = "slurm"\ncores = 1\n'
                                       'memory = "1GB"\nqueue_name = "short"\n')
    done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "run", "--config", "run.toml", "--workers", "2",
                           "--output-dir", "runs", "--no-progress"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: cluster option 'queue_name' is not a setting of dask-jobqueue's SLURMCluster")


@pytest.mark.parametrize("options, message", [
    ({"cluster": "slurm"}, "a slurm cluster needs its size: --workers N, or --min-workers M with --max-workers N"),
    ({"cluster": "k8s", "workers": 2}, "option 'cluster': unknown kind 'k8s'; choose from local, slurm, pbs, sge, lsf"),
    ({"cluster": {"cores": 4}, "workers": 2}, "option 'cluster': cores configure a job queue, but the cluster is local"),
    ({"workers": 2, "min_workers": 3}, "min_workers (3) must be at most the maximum, workers (2)"),
    ({"workers": 0, "min_workers": 1}, "min_workers needs a cluster, but workers 0 runs in this process"),
    ({"cluster": "pbs", "workers": 2, "scheduler_address": "tcp://127.0.0.1:8786"},
     "a pbs cluster and a scheduler address exclude each other"),
])
def test_cluster_options_are_checked_before_any_work(tmp_path, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainingConfig.from_mapping({"store_path": tmp_path, **options})


@pytest.mark.slow
def test_an_adaptive_local_cluster_prepares_workers_that_join_late(reference):
    root, store, undisturbed = reference
    coordinator = ParallelTrainingCoordinator(config_for(root, store, "adaptive", workers=2, min_workers=0))
    prepared: list[dict] = []

    def look_at_the_workers(done, total, batch):
        if batch is not None and coordinator.client is not None and not prepared:
            plugins = coordinator.client.run(lambda dask_worker: sorted(dask_worker.plugins))
            if plugins:
                prepared.append(plugins)

    summary = coordinator.start_training(look_at_the_workers)
    assert_same_outcome(summary, undisturbed)
    assert prepared  # every worker joined after the run began, none present when the plugin was registered
    assert all("recursive-training-preparation" in names for names in prepared[0].values())
    assert any(note.startswith("cluster: local, 0 to 2 workers, adaptive") for note in coordinator.notes)


@pytest.mark.slow
@pytest.mark.slurm
def test_sigterm_cancels_the_runs_jobs_and_a_resume_finishes_it(slurm, reference, tmp_path):
    """What SLURM preemption of the coordinator, `kill` or systemd send: the run stops as on Ctrl-C, its
    worker jobs leave the queue with it, and --resume completes it to the undisturbed trust."""
    import signal

    root, store, undisturbed = reference
    (tmp_path / "run.toml").write_text(
        f'store_path = "{store}"\nstart = "2020-07-01"\nend = "2021-03-01"\nbatch_size_days = 30\n'
        'variables_per_batch = 1\nmodels = ["naive", "ar", "mlp"]\nepochs = 60\nlags = 10\nlookback = 150\n'
        'dashboard_port = 0\nreport = false\n'
        '[cluster]\nkind = "slurm"\ncores = 1\nmemory = "1GB"\ninterface = "lo"\nwalltime = "00:10:00"\n')
    command = [PYTHON, str(REPO / "run_training.py"), "run", "--config", "run.toml", "--workers", "2",
               "--output-dir", "runs", "--no-progress"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    journal = lambda: list((tmp_path / "runs").glob("run-*/journal.jsonl"))  # noqa: E731
    while not (journal() and len(journal()[0].read_text().splitlines()) >= 3) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.1)
    assert squeue(slurm), "the run's worker jobs are not in the queue"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("terminated (SIGTERM): ")
    deadline = time.monotonic() + 30
    while squeue(slurm) and time.monotonic() < deadline:  # cancelled by the run's close; gone once done
        time.sleep(0.2)
    assert squeue(slurm) == []
    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    summary = read_results(journal()[0].parent / "results.json").summary
    assert summary.batches.resumed >= 2 and summary.batches.failed == 0
    assert summary.to_dict()["variables"] == undisturbed.to_dict()["variables"]
