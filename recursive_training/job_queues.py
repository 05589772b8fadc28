"""Workers as jobs of a batch system (SLURM, PBS, SGE, LSF), through dask-jobqueue.

The scheduler runs in this process; each worker is a job that the batch
system starts when it has room. A job cancelled or preempted is a lost
worker: its batch runs again elsewhere, and the adaptive scaling that every
job queue cluster gets here (a fixed size is the range N..N) submits a new
job in its place.
"""

from __future__ import annotations

import re
from typing import Any

import dask

from .base import ClusterError
from .cluster_settings import JOB_QUEUE_CLASSES
from .config import TrainingConfig

__all__ = ["start_job_queue_cluster", "worker_threads"]


def start_job_queue_cluster(config: TrainingConfig, dashboard_address: str) -> Any:
    """The job queue cluster ``config.cluster`` describes, with no jobs submitted yet.

    Job output goes to RUN_DIR/worker-jobs unless the settings or Dask's
    configuration name a log directory: never the current directory.
    """
    import dask_jobqueue

    kind = config.cluster.kind
    cluster_class = getattr(dask_jobqueue, JOB_QUEUE_CLASSES[kind])
    options = dict(config.cluster.options)
    scheduler_options = {"dashboard_address": dashboard_address, **options.pop("scheduler_options", {})}
    if options.get("log_directory") is None and dask.config.get(f"jobqueue.{kind}.log-directory", None) is None:
        log_directory = config.run_dir / "worker-jobs"
        log_directory.mkdir(parents=True, exist_ok=True)
        options["log_directory"] = str(log_directory)
    try:
        return cluster_class(scheduler_options=scheduler_options, **options)
    except (ValueError, TypeError) as exc:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown:
            raise ClusterError(f"cluster option {unknown[1]!r} is not a setting of dask-jobqueue's "
                               f"{cluster_class.__name__}") from None
        first_line = str(exc).strip().splitlines()[0]  # dask-jobqueue follows it with an example
        raise ClusterError(f"cannot set up the {kind} cluster: {first_line}") from None


def worker_threads(cluster: Any) -> int:
    """Threads of each worker a job queue cluster starts: a job's cores shared among its worker processes."""
    return int(cluster._dummy_job.worker_process_threads)  # dask-jobqueue's own arithmetic, not repeated here
