"""Start, reach and stop the Dask cluster a run uses.

A run either starts its own cluster, or connects to a running scheduler,
with TLS when configured. Its own cluster is a LocalCluster (worker
processes with one thread each, forked from a server that has imported
what they need; dashboard on localhost) or a job queue's workers (see
job_queues.py); either can be adaptive.
Either way each worker pays its one-time costs before the first batch
arrives.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import dask

from .base import ClusterError, freeze_existing_objects, one_line
from .config import TrainingConfig
from .fork_server import HEAP_ENVIRON, children_ignore_sigint, start_fork_server
from .retrodiction import RetrodictionSettings

__all__ = ["Connection", "connect", "disconnect", "local_cluster_settings", "main_script_hidden", "prepare_worker",
           "task_slots"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connection:
    """A connected client, the cluster it owns (None for a remote scheduler or a given client),
    the batches it runs at once when at full size, and what reaching it and preparing its workers cost."""

    client: Any
    cluster: Any
    slots: int
    start_seconds: float
    warm_up_seconds: float


def connect(config: TrainingConfig, client: Any = None) -> Connection:
    """Start or reach the cluster, and prepare its workers (see :func:`prepare_worker`).

    ``client`` is an existing Dask client (any cluster: local, remote,
    dask-jobqueue); it is prepared like our own and left open.
    """
    from distributed import Client

    from .worker_plugin import WorkerPreparation

    cluster = None
    given = client is not None
    started = time.perf_counter()
    try:
        if given:
            pass
        elif config.scheduler_address:
            client = Client(config.scheduler_address, timeout="10s", security=_security(config))
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cluster, threads = _start_own_cluster(config)
            _report_port_moves(caught, config.dashboard_port)
            client = Client(cluster)
        reached = time.perf_counter()
        # a plugin reaches every worker, those an adaptive cluster or a job queue adds later too
        client.register_plugin(WorkerPreparation(config.retrodiction))
    except (OSError, TimeoutError, ValueError, RuntimeError, ClusterError) as exc:
        if not given:
            disconnect(client, cluster)
        if isinstance(exc, ClusterError):
            raise
        where = "the given client's cluster" if given else config.scheduler_address or "a local cluster"
        raise ClusterError(f"cannot connect to {where}: {one_line(exc)}") from None
    slots = task_slots(client) if cluster is None else config.max_workers * threads
    return Connection(client, cluster, slots, reached - started, time.perf_counter() - reached)


def _start_own_cluster(config: TrainingConfig) -> tuple[Any, int]:
    """The run's own cluster, sized (fixed or adaptive) but maybe not yet full, and its threads per worker.

    A job queue cluster always adapts, a fixed size being the range N..N:
    so a job that is cancelled or preempted is replaced (see adaptive.py).
    """
    dashboard = f"{config.dashboard_host}:{config.dashboard_port}"
    adaptive = config.min_workers is not None
    if config.cluster.job_queue:
        from .job_queues import start_job_queue_cluster, worker_threads

        cluster = start_job_queue_cluster(config, dashboard)
        threads = worker_threads(cluster)
        adaptive = True
    else:
        from distributed import LocalCluster

        with children_ignore_sigint(), dask.config.set(local_cluster_settings(config)), \
                dask.config.set(start_fork_server(config.retrodiction.needs_torch)):
            levels = _dask_log_levels()  # silence_logs below silences this process's Dask loggers too
            cluster = LocalCluster(
                n_workers=config.min_workers if adaptive else config.workers,
                threads_per_worker=config.threads_per_worker, processes=True, host="127.0.0.1",
                dashboard_address=dashboard, resources=dict(config.resources) or None,  # what batches ask for
                silence_logs=logging.CRITICAL,  # workers stay quiet: task errors are reported in the summary
            )
            if keep_dask_logs:  # --log-level: this process's Dask loggers keep what the caller chose
                for target, level in levels:
                    target.setLevel(level)
        threads = config.threads_per_worker
    if adaptive:
        from .adaptive import ReplacingAdaptive

        minimum, maximum = config.worker_range
        cluster.adapt(Adaptive=ReplacingAdaptive, minimum=minimum, maximum=maximum)
    return cluster, threads


keep_dask_logs = False  # the CLI sets it with --log-level or --log-dir; else a local cluster is quiet


def _dask_log_levels() -> list[tuple[logging.Logger | logging.Handler, int]]:
    """The levels of this process's Dask loggers and of their handlers."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name == "distributed" or name.startswith("distributed.")]
    return [(target, target.level) for logger in loggers for target in (logger, *logger.handlers)]


def task_slots(client: Any) -> int:
    """Threads across the cluster's workers now: how many batches run at once."""
    return sum(w["nthreads"] for w in client.scheduler_info(n_workers=-1)["workers"].values())


def _report_port_moves(caught: list[warnings.WarningMessage], port: int) -> None:
    """Dask's four-line warning about a busy dashboard port, as one line; other warnings as they were."""
    for warning in caught:
        text = str(warning.message)
        if "already in use" in text:
            moved = text.rsplit("port", 1)[-1].split()[0]
            logger.warning("dashboard port %s is busy; the dashboard is on port %s instead", port, moved)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def disconnect(client: Any, cluster: Any) -> None:
    for closable in (client, cluster):
        if closable is not None:
            try:
                closable.close()
            except Exception as exc:  # shutting down must not hide the run's own outcome
                logger.warning("while closing the cluster: %s", one_line(exc))


def _security(config: TrainingConfig) -> Any:
    if not config.uses_tls:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=str(config.tls_ca_file), tls_client_cert=str(config.tls_cert),
                    tls_client_key=str(config.tls_key), require_encryption=True)


def prepare_worker(settings: RetrodictionSettings) -> None:
    """Pay each worker's one-time costs while the cluster starts, not in its first batch.

    Importing torch and its first training step (lazy initialisation of
    autograd) take over a second per process. What the worker holds then
    lives as long as it does, and is left out of its garbage collections
    (see :mod:`~recursive_training.base.collector`).
    """
    from .worker_task import single_threaded_torch, warm_up

    if settings.needs_torch:
        single_threaded_torch()
    warm_up(settings)
    freeze_existing_objects()


def local_cluster_settings(config: TrainingConfig) -> dict[str, Any]:
    """Dask settings for our own LocalCluster, each measured in bench/bench_parallel.py.

    Dask asks glibc to return freed memory above 64 KiB at once; torch's
    training loop allocates and frees constantly, and that churn cost about 6%
    of each batch's CPU time. Trimming above 64 MiB keeps memory flat across
    batches (bench/bench_memory.py) without the churn; the mmap threshold is
    then pinned too (fork_server.py says why). The statistical
    profiler behind the dashboard's Profile page costs a few percent more and
    is off unless asked for.

    Every Dask server also wakes its event loop 50 times a second to check
    that it is not blocked, samples memory 10 and system load 2 times a
    second, and the scheduler looks for work to steal 10 times a second. On
    a small machine those wake-ups take the CPU and the GIL from the batches:
    together they cost about 1 of 22 CPU seconds of the standard workload.
    Checking twice a second (system load and stealing once) still catches a
    blocked loop or a runaway worker in good time, keeps the dashboard live,
    and balances batches that take seconds each.
    """
    return {
        **{f"distributed.nanny.pre-spawn-environ.{name}": value for name, value in HEAP_ENVIRON.items()},
        "distributed.worker.profile.enabled": config.worker_profiling,
        "distributed.admin.tick.interval": "500ms",
        "distributed.worker.memory.monitor-interval": "500ms",
        "distributed.admin.system-monitor.interval": "1s",
        "distributed.scheduler.work-stealing-interval": "1s",
    }


@contextlib.contextmanager
def main_script_hidden() -> Iterator[None]:
    """Keep spawned worker processes from running the caller's script again.

    multiprocessing's spawn start method re-runs the parent's ``__main__``
    file in every child, so a script without ``if __name__ == "__main__":``
    would start a second run inside each local worker (and Dask's nanny
    would fail to start it). While the run's cluster lives, the script's path
    is hidden from multiprocessing; ``python -m module`` and interactive
    sessions are not affected either way.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    try:
        if "__file__" in saved:
            del main.__file__
        if saved.get("__spec__") is not None and getattr(saved["__spec__"], "name", "").endswith("__main__"):
            saved.pop("__spec__")  # `python -m pkg`: multiprocessing already skips it
        elif "__spec__" in saved:
            main.__spec__ = None
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)
