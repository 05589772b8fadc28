"""Slice a time range and a set of variables into units of parallel work."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from .data.naming import to_utc_naive
from .errors import ConfigError
from .validation import require_float, require_int

__all__ = ["TrainingBatch", "prepare_training_batches", "batch_id_for", "split_evenly"]


def batch_id_for(start: pd.Timestamp, end: pd.Timestamp, variables: Sequence[str]) -> str:
    """Readable and stable: the same window and variables always get the same id."""
    digest = hashlib.sha1(
        "\x1f".join([start.isoformat(), end.isoformat(), *sorted(variables)]).encode()
    ).hexdigest()[:10]
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
    """One window × one variable group; what a single worker task computes.

    ``processed``, ``processing_time`` and ``results`` are filled on the
    coordinator when the task's outcome arrives.
    """

    start_time: pd.Timestamp
    end_time: pd.Timestamp
    variables: tuple[str, ...]
    batch_id: str = ""
    processed: bool = False
    processing_time: float | None = None
    results: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None

    def __post_init__(self) -> None:
        self.variables = tuple(self.variables)
        if not self.batch_id:
            self.batch_id = batch_id_for(self.start_time, self.end_time, self.variables)

    @property
    def failed(self) -> bool:
        return self.error is not None


def prepare_training_batches(
    variables: Sequence[str],
    start_time: object,
    end_time: object,
    batch_size_days: float,
    variables_per_batch: int | None = None,
) -> list[TrainingBatch]:
    """The product of consecutive ``[start, end)`` windows and variable groups.

    The last window is cut at ``end_time``. Groups hold at most
    ``variables_per_batch`` variables and are as even as that allows;
    ``None`` puts every variable in one group.
    """
    names = tuple(dict.fromkeys(variables))
    if not names:
        raise ConfigError("no variables to train on")
    start, end = to_utc_naive(start_time, "start"), to_utc_naive(end_time, "end")
    if start >= end:
        raise ConfigError(f"option 'start' ({start}) must be before 'end' ({end})")
    require_float("batch_size_days", batch_size_days, minimum=0.0, inclusive=False)
    group_size = len(names) if variables_per_batch is None else require_int(
        "variables_per_batch", variables_per_batch, minimum=1)
    width = pd.Timedelta(days=batch_size_days)
    n_windows = math.ceil((end - start) / width)
    groups = split_evenly(names, math.ceil(len(names) / group_size))
    batches = []
    for w in range(n_windows):
        lo = start + w * width
        hi = min(lo + width, end)
        batches.extend(TrainingBatch(lo, hi, group) for group in groups)
    return batches
