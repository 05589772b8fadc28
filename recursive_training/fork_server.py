"""Fork local workers from a server that has already imported what they need.

Spawned workers each import distributed, pandas and torch themselves:
seconds of CPU per worker while the cluster starts, and closing waited for
each to finalise torch. Forked from multiprocessing's fork server, they
share one import made in the background, start ready for torch, and exit at
once (closing a 2-worker cluster: 0.8 s before, 0.05 s after;
bench/bench_end_to_end.py). Forked workers inherit the server's
environment as spawned ones inherit the nanny's: the server starts with our
glibc heap settings (read by glibc as a process starts), and its first
preload sets Dask's pre-spawn environment (one BLAS thread) before anything
that reads it loads.

This module needs nothing heavy (not even Dask's configuration, which the
server reads itself), so the command line starts the server before its own
imports and the two overlap: a 2-worker cluster is ready for torch about a
second sooner.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

from .base import WORKER_MALLOC_MMAP_BYTES, WORKER_MALLOC_TRIM_BYTES

__all__ = ["HEAP_ENVIRON", "WORKER_PRELOAD", "children_ignore_sigint", "pre_spawn_environ", "start_fork_server"]

WORKER_PRELOAD = ("distributed", "recursive_training.worker_task", "recursive_training.worker_plugin")
HEAP_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": str(WORKER_MALLOC_TRIM_BYTES),
                "MALLOC_MMAP_THRESHOLD_": str(WORKER_MALLOC_MMAP_BYTES)}


def start_fork_server(needs_torch: bool) -> dict[str, Any]:
    """Start the fork server unless this process runs one; return the Dask settings that fork workers from it.

    A server this process already runs (the command line's, or an earlier
    run's) is used as it is. Where there are no fork servers (Windows) the
    settings are empty and workers are spawned. Called from the main thread,
    the server ignores Ctrl-C, and so do the workers forked from it.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return {}
    from multiprocessing import forkserver

    saved = {name: os.environ.get(name) for name in HEAP_ENVIRON}
    os.environ.update(HEAP_ENVIRON)
    try:
        multiprocessing.set_forkserver_preload(["recursive_training.fork_server_environ", *WORKER_PRELOAD,
                                                *(["torch"] if needs_torch else []),
                                                "recursive_training.fork_server_exit"])
        with children_ignore_sigint():
            forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {"distributed.worker.multiprocessing-method": "forkserver"}


def pre_spawn_environ() -> dict[str, str]:
    """What Dask's nanny sets before it starts a worker (``distributed.nanny.pre-spawn-environ``),
    with our heap settings (``HEAP_ENVIRON``).

    Without distributed imported, its defaults are loaded into Dask's
    configuration the way distributed's own config module does on import,
    so the user's Dask configuration files and variables still win.
    """
    import dask.config

    if "distributed" not in sys.modules:
        import yaml

        spec = importlib.util.find_spec("distributed")
        if spec is not None and spec.origin is not None:
            defaults = yaml.safe_load((Path(spec.origin).parent / "distributed.yaml").read_text())
            dask.config.update_defaults(defaults)
    environ = {name: str(value) for name, value in
               dask.config.get("distributed.nanny.pre-spawn-environ", default={}).items()}
    return {**environ, **HEAP_ENVIRON}


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Start worker processes with Ctrl-C ignored: the coordinator stops them itself.

    A terminal's Ctrl-C reaches the whole process group; an ignored signal
    stays ignored across exec, so local workers do not die mid-batch with
    tracebacks while the coordinator is shutting down in order.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
