"""Peak memory of a piece of work, sampled with memory-profiler in a thread.

memory-profiler's own function-wrapping mode starts a child process (not
allowed inside daemonic Dask workers) and may run the function again, so the
process is sampled from a background thread instead.
"""

from __future__ import annotations

import threading

__all__ = ["PeakMemoryMonitor", "current_memory_mib"]


def current_memory_mib() -> float:
    """Resident set size of this process, MiB.

    memory-profiler is imported here, not with the module: it imports
    IPython where that is installed (0.15 s), which a coordinator that never
    runs a batch itself should not pay.
    """
    from memory_profiler import memory_usage

    return float(memory_usage(-1, interval=0, timeout=None, max_usage=True))


class PeakMemoryMonitor:
    """``with PeakMemoryMonitor() as m: ...`` then ``m.peak_mib`` and ``m.increase_mib``."""

    def __init__(self, interval_seconds: float = 0.05) -> None:
        self.interval_seconds = interval_seconds
        self.baseline_mib = 0.0
        self.peak_mib = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_mib = max(self.peak_mib, current_memory_mib())
            if self._done.wait(self.interval_seconds):
                return

    @property
    def increase_mib(self) -> float:
        return max(0.0, self.peak_mib - self.baseline_mib)

    def __enter__(self) -> "PeakMemoryMonitor":
        self.baseline_mib = self.peak_mib = current_memory_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, current_memory_mib())
