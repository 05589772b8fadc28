"""A progress line with ETA for long runs, suited to terminals and to logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "format_duration"]


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Callable as a coordinator progress callback: ``(done, total, batch)``.

    On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a
    line at most every ``log_interval`` seconds and at the end. The ETA counts
    only batches finished in this process, so resumed ones do not skew it.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 28, log_interval: float = 5.0,
                 unit: str = "batches") -> None:
        self.stream = stream or sys.stderr
        self.width, self.unit = width, unit
        self.log_interval = log_interval
        self._interactive = self.stream.isatty()
        self._started: float | None = None
        self._base = 0
        self._last_print = 0.0

    def __call__(self, done: int, total: int, batch: object | None) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started, self._base = now, done
        line = self.render(done, total, now - self._started)
        finished = done >= total
        if self._interactive:
            self.stream.write("\r" + line + ("\n" if finished else ""))
        elif finished or now - self._last_print >= self.log_interval or batch is None:
            self.stream.write(line + "\n")
            self._last_print = now
        self.stream.flush()

    def render(self, done: int, total: int, elapsed: float) -> str:
        fraction = done / total if total else 1.0
        filled = int(round(self.width * fraction))
        ran = done - self._base
        if done >= total:
            eta = "done"
        elif ran > 0:
            eta = "ETA " + format_duration(elapsed / ran * (total - done))
        else:
            eta = "ETA --:--"
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {done}/{total} {self.unit} {fraction:4.0%}  elapsed {format_duration(elapsed)}  {eta}"
