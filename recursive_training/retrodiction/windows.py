"""Evaluation windows on a fixed grid, so a forecast never depends on how a run was cut.

A model is fitted at the start of the grid window that holds its origin, so
the forecast made at an origin is the same whatever the run's start, end,
worker count or batch size. The grid is whole windows of a fixed number of
days counted from an anchor (default 1970-01-01), or calendar periods
(month, quarter, year).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..base import ConfigError, require_float

__all__ = ["WindowGrid", "GridWindow", "CALENDAR_PERIODS", "DEFAULT_ANCHOR"]

CALENDAR_PERIODS = {"month": "M", "quarter": "Q", "year": "Y"}
DEFAULT_ANCHOR = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class GridWindow:
    """Window ``index`` of a grid: ``[start, end)``."""

    index: int
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True)
class WindowGrid:
    """Fixed-length windows (``days`` from ``anchor``) or calendar ``period`` windows."""

    days: float = 90.0
    period: str | None = None
    anchor: pd.Timestamp = DEFAULT_ANCHOR

    def __post_init__(self) -> None:
        if self.period is not None:
            if self.period not in CALENDAR_PERIODS:
                raise ConfigError(f"option 'window_period': unknown {self.period!r}; "
                                  f"choose from {', '.join(CALENDAR_PERIODS)}")
        else:
            require_float("batch_size_days", self.days, minimum=0.0, inclusive=False)
        object.__setattr__(self, "anchor", pd.Timestamp(self.anchor))

    @property
    def id(self) -> str:
        """``90D`` (with ``@anchor`` when not 1970-01-01) or the period's name."""
        if self.period is not None:
            return self.period
        days = f"{self.days:g}D"
        return days if self.anchor == DEFAULT_ANCHOR else f"{days}@{self.anchor.isoformat()}"

    @property
    def _width(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.days)

    def index_of(self, moment: pd.Timestamp) -> int:
        """The grid window holding ``moment``."""
        if self.period is not None:
            return pd.Period(moment, freq=CALENDAR_PERIODS[self.period]).ordinal
        return (moment - self.anchor).value // self._width.value  # whole nanoseconds: exact at the edges

    def window(self, index: int) -> GridWindow:
        if self.period is not None:
            period = pd.Period(ordinal=index, freq=CALENDAR_PERIODS[self.period])
            return GridWindow(index, period.start_time, (period + 1).start_time)
        start = self.anchor + index * self._width
        return GridWindow(index, start, start + self._width)

    def windows(self, start: pd.Timestamp, end: pd.Timestamp) -> list[GridWindow]:
        """Every grid window that meets ``[start, end)``, in time order."""
        first, last = self.index_of(start), self.index_of(end - pd.Timedelta(1, "ns"))
        return [self.window(i) for i in range(first, last + 1)]
