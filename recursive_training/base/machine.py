"""What this machine offers a run: its cores, and the worker count that follows from them."""

from __future__ import annotations

import os

__all__ = ["AUTO", "available_cores"]

AUTO = "auto"  # workers: in-process or one per core, by the size of the plan


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
