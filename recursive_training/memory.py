"""Peak resident memory of a piece of work (a batch), for its result.

On Linux the kernel keeps the process's peak itself (``VmHWM`` in
/proc/self/status, reset through /proc/self/clear_refs): exact however
brief the peak, and free. A thread that sampled it with memory-profiler 20
times a second cost a worker about 1.5% of its CPU, and importing
memory-profiler (it imports IPython where that is installed) 0.13 s of its
first batch. Where the kernel keeps no peak, memory-profiler still samples
the process from a thread (its own function-wrapping mode starts a child
process, not allowed inside daemonic Dask workers, and may run the function
again).
"""

from __future__ import annotations

import functools
import threading

__all__ = ["PeakMemoryMonitor", "current_memory_mib"]

_STATUS, _CLEAR_REFS = "/proc/self/status", "/proc/self/clear_refs"
_RESET_PEAK = "5"  # what clear_refs takes to set the peak to the current resident size (Linux 4.0)
_open_monitors: set["PeakMemoryMonitor"] = set()  # on the kernel's peak, in this process
_reset_lock = threading.Lock()


def current_memory_mib() -> float:
    """Resident set size of this process, MiB."""
    kernel = _kernel_memory_mib()
    return kernel[0] if kernel is not None else _sampled_memory_mib()


def _sampled_memory_mib() -> float:
    """memory-profiler's reading, imported here, not with the module: a coordinator that never runs a
    batch itself should not pay for IPython."""
    from memory_profiler import memory_usage

    return float(memory_usage(-1, interval=0, timeout=None, max_usage=True))


def _kernel_memory_mib() -> tuple[float, float] | None:
    """(resident now, peak since the last reset) in MiB, as the kernel counts them; None off Linux."""
    try:
        with open(_STATUS, "rb") as status:
            fields = dict(line.split(b":", 1) for line in status if line.startswith((b"VmRSS:", b"VmHWM:")))
        return int(fields[b"VmRSS"].split()[0]) / 1024, int(fields[b"VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None


def _reset_kernel_peak() -> bool:
    try:
        with open(_CLEAR_REFS, "w") as clear_refs:
            clear_refs.write(_RESET_PEAK)
        return True
    except OSError:
        return False


@functools.cache
def _kernel_keeps_peak() -> bool:
    return _kernel_memory_mib() is not None and _reset_kernel_peak()


class PeakMemoryMonitor:
    """``with PeakMemoryMonitor() as m: ...`` then ``m.peak_mib`` and ``m.increase_mib``.

    The peak is the process's, as the work's would be on a worker of one
    thread. Monitors may overlap (a worker of several threads, a batch
    left running after its timeout): each resets the kernel's peak as it
    opens, after handing the peak so far to those already open, so each
    sees exactly the highest resident size while it was open.
    ``sample`` forces sampling every ``interval_seconds`` where the kernel
    keeps a peak too.
    """

    def __init__(self, interval_seconds: float = 0.05, *, sample: bool = False) -> None:
        self.interval_seconds = interval_seconds
        self.sampled = sample or not _kernel_keeps_peak()
        self.baseline_mib = 0.0
        self.peak_mib = 0.0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None  # the sampler, where there is one

    def _sample(self) -> None:
        while True:
            self.peak_mib = max(self.peak_mib, _sampled_memory_mib())
            if self._done.wait(self.interval_seconds):
                return

    @property
    def increase_mib(self) -> float:
        return max(0.0, self.peak_mib - self.baseline_mib)

    def __enter__(self) -> "PeakMemoryMonitor":
        if self.sampled:
            self.baseline_mib = self.peak_mib = _sampled_memory_mib()
            self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
            self._thread.start()
            return self
        with _reset_lock:
            kernel = _kernel_memory_mib()
            if kernel is not None:
                for monitor in _open_monitors:
                    monitor.peak_mib = max(monitor.peak_mib, *kernel)
            _reset_kernel_peak()
            _open_monitors.add(self)
        # the resident size read just before the reset is the baseline: nothing was allocated in between
        self.baseline_mib = self.peak_mib = kernel[0] if kernel is not None else current_memory_mib()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._done.set()
            self._thread.join()
            self.peak_mib = max(self.peak_mib, _sampled_memory_mib())
            return
        with _reset_lock:
            _open_monitors.discard(self)
            kernel = _kernel_memory_mib()
        if kernel is not None:  # unreadable now: the peak stays what was known
            self.peak_mib = max(self.peak_mib, *kernel)
