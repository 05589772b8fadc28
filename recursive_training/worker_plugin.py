"""Prepare every worker of a run, those that join later included, through a Dask WorkerPlugin.

A plugin registered with the scheduler runs on each worker present and on
every worker that joins afterwards (an adaptive cluster scaling up, a nanny
restarting a lost worker), so no batch waits on a cold worker.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .retrodiction import RetrodictionSettings

__all__ = ["WorkerPreparation"]


class WorkerPreparation(WorkerPlugin):
    """Single-threaded torch and each used family's warm-up, once per worker process."""

    name = "recursive-training-preparation"  # registering again replaces it

    def __init__(self, settings: RetrodictionSettings) -> None:
        self.settings = settings

    def setup(self, worker: Any) -> None:
        from .cluster import prepare_worker

        prepare_worker(self.settings)
