"""Slice a time range and a set of variables into units of parallel work.

Windows come from a fixed grid (:class:`~recursive_training.retrodiction.WindowGrid`),
never from the run's start, so the same window is computed the same way by
every run; a run's range only clips which of its origins are scored.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from .base import ConfigError, require_int, to_utc_naive
from .outcomes import BatchResult
from .records import BatchStatus
from .retrodiction.windows import GridWindow, WindowGrid

__all__ = ["TrainingBatch", "prepare_training_batches", "batch_id_for", "split_evenly"]


def batch_id_for(start: pd.Timestamp, end: pd.Timestamp, variables: Sequence[str],
                 models: Sequence[str] | None = None) -> str:
    """Readable and stable: the same span, variables and models always get the same id."""
    parts = [start.isoformat(), end.isoformat(), *sorted(variables)]
    if models is not None:
        parts += ["\x1e", *sorted(models)]
    digest = hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:10]
    return f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}-{digest}"


def split_evenly(names: Sequence[str], groups: int) -> list[tuple[str, ...]]:
    """``names`` in order, cut into ``groups`` groups whose sizes differ by at most one.

    Even groups make even tasks: 16 variables in groups of at most 9 become
    8 + 8, not 9 + 7.
    """
    groups = max(1, min(groups, len(names)))
    size, extra = divmod(len(names), groups)
    bounds = [g * size + min(g, extra) for g in range(groups + 1)]
    return [tuple(names[bounds[g] : bounds[g + 1]]) for g in range(groups)]


@dataclass
class TrainingBatch:
    """One grid window (its scored span) × one variable group; what a single worker task computes.

    ``start_time``/``end_time`` bound the scored origins; the models are
    fitted at ``window_start`` (default: ``start_time``). ``models`` lists the
    spec ids to run (None: every model of the run), so a resume can run only
    what is missing. The coordinator sets :attr:`status` when the task's
    outcome arrives, with ``error`` for a failure; ``result`` holds a done
    batch's result while the progress callback sees it, and is let go once
    it is recorded (the results file has every result), so that a run's
    memory does not grow with its batches.
    """

    start_time: pd.Timestamp
    end_time: pd.Timestamp
    variables: tuple[str, ...]
    batch_id: str = ""
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    window_index: int = 0
    previous_window_start: pd.Timestamp | None = None
    models: tuple[str, ...] | None = None
    result: BatchResult | None = field(default=None, repr=False)
    error: str | None = None
    status: BatchStatus = BatchStatus.NOT_RUN

    def __post_init__(self) -> None:
        self.variables = tuple(self.variables)
        self.window_start = self.start_time if self.window_start is None else self.window_start
        self.window_end = self.end_time if self.window_end is None else self.window_end
        if self.models is not None:
            self.models = tuple(self.models)
        if not self.batch_id:
            self.batch_id = batch_id_for(self.start_time, self.end_time, self.variables, self.models)

    @classmethod
    def in_window(cls, window: GridWindow, previous: GridWindow | None, start: pd.Timestamp, end: pd.Timestamp,
                  variables: Sequence[str], models: Sequence[str] | None = None) -> "TrainingBatch":
        """The part of grid ``window`` inside ``[start, end)``."""
        return cls(max(start, window.start), min(end, window.end), tuple(variables), window_start=window.start,
                   window_end=window.end, window_index=window.index,
                   previous_window_start=None if previous is None else previous.start, models=models)

    @property
    def processed(self) -> bool:
        return self.status is BatchStatus.DONE

    @property
    def failed(self) -> bool:
        return self.status is BatchStatus.FAILED


def prepare_training_batches(
    variables: Sequence[str],
    start_time: object,
    end_time: object,
    batch_size_days: float,
    variables_per_batch: int | None = None,
    *,
    grid: WindowGrid | None = None,
) -> list[TrainingBatch]:
    """The product of the grid windows meeting ``[start, end)`` and the variable groups.

    Windows are ``batch_size_days`` long on the grid anchored at 1970-01-01
    unless ``grid`` says otherwise; the first and last are clipped to the
    range. Groups hold at most ``variables_per_batch`` variables and are as
    even as that allows; ``None`` puts every variable in one group.
    """
    names = tuple(dict.fromkeys(variables))
    if not names:
        raise ConfigError("no variables to train on")
    start, end = to_utc_naive(start_time, "start"), to_utc_naive(end_time, "end")
    if start >= end:
        raise ConfigError(f"option 'start' ({start}) must be before 'end' ({end})")
    grid = grid or WindowGrid(days=batch_size_days)
    group_size = len(names) if variables_per_batch is None else require_int(
        "variables_per_batch", variables_per_batch, minimum=1)
    groups = split_evenly(names, math.ceil(len(names) / group_size))
    return [TrainingBatch.in_window(window, grid.window(window.index - 1), start, end, group)
            for window in grid.windows(start, end) for group in groups]
