"""Size batches so Dask's per-task overhead stays small and every worker stays busy.

Dask costs a few milliseconds per task and a run ends with a tail in which
some workers idle; both shrink relative to the work when there are enough
tasks and each is substantial. These estimates need only the catalog.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from .batching import TrainingBatch, prepare_training_batches
from .data import VariableInfo

__all__ = ["auto_variables_per_batch", "estimated_origins", "largest_first", "plan_batches",
           "small_batch_warning", "TASKS_PER_WORKER", "MIN_ORIGINS_PER_BATCH"]

TASKS_PER_WORKER = 8  # enough that the last wave's idle tail is a small part of the run
MIN_ORIGINS_PER_BATCH = 250  # below this a task's fixed cost rivals its work


def auto_variables_per_batch(n_variables: int, n_windows: int, workers: int,
                             origins_per_variable_window: float) -> int:
    """Fewest groups (largest tasks) that still give every worker ``TASKS_PER_WORKER`` tasks,
    without splitting a window into batches smaller than ``MIN_ORIGINS_PER_BATCH``."""
    groups = min(n_variables, max(1, math.ceil(TASKS_PER_WORKER * workers / max(n_windows, 1))))
    per_batch = math.ceil(n_variables / groups)
    floor = math.ceil(MIN_ORIGINS_PER_BATCH / max(origins_per_variable_window, 1.0))
    return min(n_variables, max(per_batch, floor))


def _origins_in(span: pd.Timedelta, info: VariableInfo, step: int) -> float:
    """Origins of ``info`` in a stretch of time, from its median step."""
    return span / info.median_step / step if info.median_step_ns > 0 and span > pd.Timedelta(0) else 0.0


def estimated_origins(batch: TrainingBatch, infos: Mapping[str, VariableInfo], step: int) -> float:
    """Forecast origins a batch will compute, from each variable's range and median step."""
    total = 0.0
    for name in batch.variables:
        info = infos[name]
        lo = max(batch.start_time, pd.Timestamp(info.first))
        hi = min(batch.end_time, pd.Timestamp(info.last) + info.median_step)
        total += _origins_in(hi - lo, info, step)
    return total


def plan_batches(infos: Sequence[VariableInfo], start: pd.Timestamp, end: pd.Timestamp,
                 batch_size_days: float, variables_per_batch: int | None, workers: int,
                 step: int) -> tuple[list[TrainingBatch], str | None]:
    """The run's batches, with the group size chosen when not given, and a warning if they are tiny."""
    width = pd.Timedelta(days=batch_size_days)
    if variables_per_batch is None:
        per_window = sum(_origins_in(width, info, step) for info in infos) / len(infos)
        variables_per_batch = auto_variables_per_batch(len(infos), math.ceil((end - start) / width), workers,
                                                       origins_per_variable_window=per_window)
    batches = prepare_training_batches([i.name for i in infos], start, end, batch_size_days, variables_per_batch)
    return batches, small_batch_warning(batches, {i.name: i for i in infos}, step)


def largest_first(batches: Sequence[TrainingBatch], infos: Mapping[str, VariableInfo],
                  step: int) -> list[TrainingBatch]:
    """Submission order: big batches first, so small ones fill the tail of the run."""
    return sorted(batches, key=lambda b: -estimated_origins(b, infos, step))


def small_batch_warning(batches: Sequence[TrainingBatch], infos: Mapping[str, VariableInfo],
                        step: int) -> str | None:
    """A warning when the typical batch is too small to be worth a task."""
    if not batches:
        return None
    sizes = sorted(estimated_origins(b, infos, step) for b in batches)
    typical = sizes[len(sizes) // 2]
    if typical >= MIN_ORIGINS_PER_BATCH:
        return None
    return (f"batches are small (about {typical:.0f} forecast origins each, {len(batches)} batches): "
            "Dask's per-task overhead may dominate; raise --batch-size-days or --variables-per-batch")
