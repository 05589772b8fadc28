"""Size batches so Dask's per-task overhead stays small and every worker stays busy.

Dask costs a few milliseconds per task and a run ends with a tail in which
some workers idle; both shrink relative to the work when there are enough
tasks and each is substantial, and the tail shrinks further when the tasks
that run last are small. Work is weighed in estimated seconds, from each
variable's origins and training span and the run's models' costs
(retrodiction/costs.py): an MLP's fit costs the same however few origins
a window holds, a batch of ARIMA is worth thousands of naive ones, and a
batch's MLPs train as one, so cutting a batch in two adds work (the
group's fixed cost per epoch, paid by each piece). These estimates need
only the catalog.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from .base import ConfigError, DataError
from .batching import TrainingBatch, prepare_training_batches, split_evenly
from .config import TrainingConfig
from .data import VariableInfo
from .records import RunHeader
from .retrodiction import RetrodictionSettings
from .retrodiction.costs import ModelCost, combined_cost
from .retrodiction.windows import WindowGrid

__all__ = ["auto_variables_per_batch", "batch_work", "check_procedure", "largest_first", "least_own_work",
           "plan_batches", "plan_run", "remaining_work", "Unit", "small_batch_warning", "taper_tail", "WorkEstimate",
           "TASKS_PER_WORKER", "MIN_WORK_PER_BATCH", "MIN_WORK_PER_TAIL_BATCH", "TAIL_TASKS_PER_WORKER"]

TASKS_PER_WORKER = 8  # enough that the last wave's idle tail is a small part of the run
# A task costs about 10 ms beyond its work (Dask's scheduling, loading the window, journalling the outcome:
# bench/bench_overhead.py), so a batch of less than 50 ms of estimated work spends a sixth or more on that.
MIN_WORK_PER_BATCH = 0.05
TAIL_TASKS_PER_WORKER = 4  # no task is more than 1/(this x workers) of the work left when it starts
MIN_WORK_PER_TAIL_BATCH = MIN_WORK_PER_BATCH / TAIL_TASKS_PER_WORKER  # the few tail tasks may be smaller


@dataclasses.dataclass(frozen=True)
class WorkEstimate:
    """How a run's work grows with a variable's origins in a window and with its training span.

    ``cost`` is the run's models' costs together (:func:`combined_cost`);
    a window fits each model once, and once more every ``refit_every``
    origins; each fit trains on the lookback's points (``lookback_points``,
    or ``lookback_span``) or on all the history before the window when it
    holds less; a batch pays ``cost.per_batch`` once.
    """

    cost: ModelCost
    step: int = 1
    refit_every: int = 0
    lookback_points: int | None = None
    lookback_span: pd.Timedelta | None = None

    @classmethod
    def of(cls, settings: RetrodictionSettings) -> "WorkEstimate":
        cost = combined_cost((spec.cost for spec in settings.models),
                             together=settings.train_together and not settings.refit_every)
        duration = settings.lookback_duration
        return cls(cost, settings.step, settings.refit_every,
                   lookback_points=None if duration is not None else int(settings.lookback),
                   lookback_span=None if duration is None else pd.Timestamp(0) + duration - pd.Timestamp(0))


def auto_variables_per_batch(n_variables: int, n_windows: int, workers: int, work_per_variable_window: float,
                             work_per_batch: float = 0.0) -> int:
    """Fewest groups (largest tasks) that still give every worker ``TASKS_PER_WORKER`` tasks,
    without cutting a window into batches of less work than ``MIN_WORK_PER_BATCH``, nor into batches whose
    own work is less than three times what each batch pays once (``work_per_batch``: the pieces would
    spend a quarter or more of their time on it).

    Returned as the largest group size; groups are then split evenly
    (:func:`~recursive_training.batching.split_evenly`), so every group keeps
    the minimum.
    """
    wanted = math.ceil(TASKS_PER_WORKER * workers / max(n_windows, 1))
    affordable = math.floor(n_variables * work_per_variable_window / least_own_work(work_per_batch) + 1e-9)
    groups = max(1, min(n_variables, wanted, affordable))
    return math.ceil(n_variables / groups)


def least_own_work(per_batch: float) -> float:
    """The least work a batch should hold beyond what it pays once (``per_batch``): enough to pay for its Dask
    task, and three times that fixed cost, so that cutting work into batches wastes at most a quarter."""
    return max(MIN_WORK_PER_BATCH, 3 * per_batch)


def batch_work(batches: Sequence[TrainingBatch], infos: Mapping[str, VariableInfo],
               estimate: WorkEstimate) -> list[float]:
    """Estimated seconds of each batch: each variable's origins in it (from its range and median step) and
    the fits they need, each on the training span the variable has before the batch's window, and what
    the batch pays once.

    Vectorised over each batch's variables, with every variable's range
    converted once: a plan of 10,000 variables has hundreds of thousands of
    (batch, variable) pairs, and this runs three times per plan.
    """
    position = {name: i for i, name in enumerate(infos)}
    first = np.array([pd.Timestamp(info.first).value for info in infos.values()], dtype=np.int64)
    median_step = np.array([info.median_step_ns for info in infos.values()], dtype=np.int64)
    end = np.array([pd.Timestamp(info.last).value for info in infos.values()], dtype=np.int64) + median_step
    cost = estimate.cost
    sizes = []
    for batch in batches:
        at = np.fromiter((position[name] for name in batch.variables), dtype=np.int64, count=len(batch.variables))
        width = np.minimum(end[at], batch.end_time.value) - np.maximum(first[at], batch.start_time.value)
        usable = (median_step[at] > 0) & (width > 0)
        at, width = at[usable], width[usable]
        origins = width / median_step[at] / estimate.step
        work = origins * cost.per_origin
        if cost.per_fit or cost.per_training_point:
            fits = 1 + (origins // estimate.refit_every if estimate.refit_every else 0)
            history = np.maximum(batch.start_time.value - first[at], 0) / median_step[at]
            if estimate.lookback_points is not None:
                history = np.minimum(history, estimate.lookback_points)
            elif estimate.lookback_span is not None:
                history = np.minimum(history, estimate.lookback_span.value / median_step[at])
            work = work + fits * (cost.per_fit + history * cost.per_training_point)
        sizes.append(float(np.sum(work)) + (cost.per_batch if len(at) else 0.0))
    return sizes


def plan_batches(infos: Sequence[VariableInfo], start: pd.Timestamp, end: pd.Timestamp,
                 grid: WindowGrid, variables_per_batch: int | None, workers: int,
                 estimate: WorkEstimate) -> tuple[list[TrainingBatch], float]:
    """The run's batches in time order, and the typical batch's work before the tail was cut
    (what :func:`small_batch_warning` judges: the small pieces of a tapered tail are small on purpose).

    Unless the user fixed ``variables_per_batch``, the group size is chosen
    here and, on two or more workers, the tail is tapered (:func:`taper_tail`):
    one worker has no other to keep waiting, and a cut only adds tasks.
    """
    by_name = {i.name: i for i in infos}
    automatic = variables_per_batch is None
    per_batch = estimate.cost.per_batch
    if automatic:
        whole = prepare_training_batches([i.name for i in infos], start, end, grid.days, len(infos), grid=grid)
        per_window = (sum(batch_work(whole, by_name, estimate)) / max(len(whole), 1) - per_batch) / len(infos)
        variables_per_batch = auto_variables_per_batch(len(infos), len(whole), workers, per_window,  # a batch a window
                                                       per_batch)
    batches = prepare_training_batches([i.name for i in infos], start, end, grid.days, variables_per_batch,
                                       grid=grid)
    sizes = batch_work(batches, by_name, estimate)
    if automatic and workers > 1:
        return taper_tail(batches, sizes, workers, per_batch), _median(sizes)
    return batches, _median(sizes)


def taper_tail(batches: Sequence[TrainingBatch], sizes: Sequence[float], workers: int,
               per_batch: float = 0.0) -> list[TrainingBatch]:
    """``batches`` (of the work ``sizes``: :func:`batch_work`) with those that run last split by variables, so
    the workers finish together.

    A run lasts until its slowest worker finishes: with equal batches, the
    others may idle for up to one whole batch at the end. Capping each batch,
    in submission order, at ``1 / (TAIL_TASKS_PER_WORKER x workers)`` of the
    work still left when it starts (guided self-scheduling) leaves the bulk
    of the run in big tasks and cuts the idle tail to a small part of one.
    With n = ``TAIL_TASKS_PER_WORKER x workers`` it adds about n ln n tasks,
    none of less work than ``MIN_WORK_PER_TAIL_BATCH``.

    Each piece pays ``per_batch`` again (models trained together: a batch
    of S cut in k costs (S - p) / k + p each), so a batch is cut in at most
    sqrt((W - 1)(S - p) / 2p) pieces on W workers: run last, its pieces
    leave the other W - 1 idle for half a piece on average, (W - 1)(S - p) / 2k
    worker-seconds, against the (k - 1)p the cut adds: the k that makes
    their sum least, rounded down. Counting the whole piece as idle, for any W
    (sqrt((S - p) / p)), cut 8 of 25 monthly windows of 16 daily MLPs on
    2 workers and made their batches 4-6% slower than whole windows (20
    interleaved rounds, twice), and 90-day windows 9% slower.
    Returned in the order given.
    """
    size_of = dict(zip((b.batch_id for b in batches), sizes, strict=True))
    remaining = sum(sizes)
    pieces: dict[str, int] = {}
    for batch in sorted(batches, key=lambda b: -size_of[b.batch_id]):  # largest first, as submitted
        share = remaining / (TAIL_TASKS_PER_WORKER * workers)
        size = size_of[batch.batch_id]
        own = size - per_batch  # what cutting divides
        wanted = math.ceil(own / (share - per_batch) - 1e-9) if share > per_batch else math.inf
        most = math.floor(size / MIN_WORK_PER_TAIL_BATCH + 1e-9)
        if per_batch > 0:
            most = min(most, math.floor(math.sqrt((workers - 1) * max(own, 0.0) / (2 * per_batch)) + 1e-9))
        pieces[batch.batch_id] = max(1, min(wanted, most))
        remaining -= size
    return [dataclasses.replace(batch, variables=group, batch_id="")
            for batch in batches for group in split_evenly(batch.variables, pieces[batch.batch_id])]


def largest_first(batches: Sequence[TrainingBatch], infos: Mapping[str, VariableInfo],
                  estimate: WorkEstimate) -> list[TrainingBatch]:
    """Submission order: big batches first, so small ones fill the tail of the run."""
    sizes = batch_work(batches, infos, estimate)
    return [batches[i] for i in sorted(range(len(batches)), key=lambda i: -sizes[i])]


def _median(sizes: Sequence[float]) -> float:
    """The median batch's work (0 for no batches)."""
    ordered = sorted(sizes)
    return ordered[len(ordered) // 2] if ordered else 0.0


def small_batch_warning(typical: float, submitted: int, per_batch: float = 0.0, cut: bool = False) -> str | None:
    """A warning when the typical batch (of ``typical`` seconds of work) is too small to be worth a Dask task;
    or, when the user ``cut`` windows into several batches by variables, too small to be worth what each
    batch pays once (``per_batch``: its models' training together). An uncut window's batch already holds
    every variable, so it is judged by Dask's cost per task alone."""
    if submitted == 0 or (typical - per_batch >= least_own_work(per_batch) if cut else typical >= MIN_WORK_PER_BATCH):
        return None
    return (f"batches are small (about {typical * 1e3:.2g} ms of model work each, {submitted} batches): "
            "Dask's per-task overhead and the models' per-batch training cost may dominate; "
            "raise --batch-size-days or --variables-per-batch")


Unit = tuple[int, str, str, str, str]  # (window index, span start, span end, variable, spec id): settled once


def plan_run(config: TrainingConfig, infos: Sequence[VariableInfo], workers: int,
             estimate: WorkEstimate) -> tuple[list[TrainingBatch], float]:
    """The run's batches for ``workers`` batches at a time, and the typical batch's work.

    The range defaults to the variables' history; ``batch_limit`` keeps the
    first batches in time order.
    """
    start = config.start or min(pd.Timestamp(i.first) for i in infos)
    end = config.end or max(pd.Timestamp(i.last) + i.median_step for i in infos)
    if not any(pd.Timestamp(i.first) < end and pd.Timestamp(i.last) >= start for i in infos):
        raise DataError(f"no observations of the selected variables between {start} and {end}")
    batches, typical = plan_batches(infos, start, end, config.window_grid, config.variables_per_batch, workers,
                                    estimate)
    if config.batch_limit is not None:
        batches = sorted(batches, key=lambda b: b.start_time)[:config.batch_limit]
    return batches, typical


def remaining_work(batches: Sequence[TrainingBatch], done: Collection[Unit],
                   spec_ids: tuple[str, ...]) -> list[TrainingBatch]:
    """``batches`` less the (window, span, variable, spec) units in ``done``.

    Work is settled per unit, so a resume with another worker count or
    batch size finishes exactly what is missing, and a resume with a model
    added runs only that model.
    """
    if not done:
        return list(batches)
    remaining = []
    for batch in batches:
        by_missing: dict[tuple[str, ...], list[str]] = defaultdict(list)
        span = (batch.window_index, batch.start_time.isoformat(), batch.end_time.isoformat())
        for variable in batch.variables:
            missing = tuple(s for s in spec_ids if (*span, variable, s) not in done)
            if missing:
                by_missing[missing].append(variable)
        remaining.extend(dataclasses.replace(batch, variables=tuple(names), batch_id="",
                                             models=None if missing == spec_ids else missing)
                         for missing, names in by_missing.items())
    return remaining


def check_procedure(headers: Sequence[RunHeader], current: Mapping[str, Any], run_id: str, journal: Path) -> None:
    """A resume may add or drop models, never change how forecasts are made or scored."""
    if not headers or any(h.procedure is None for h in headers):
        raise ConfigError(f"run {run_id!r}: journal {journal} was written by an older version of this tool; "
                          "start a new run with another --run-id")
    for header in headers:
        for option, then in header.procedure.items():
            if current.get(option) != then:
                raise ConfigError(
                    f"option '{option}' differs from the run being resumed ({then!r} then, "
                    f"{current.get(option)!r} now): resume with the same value, or start a new run "
                    "with another --run-id")
