"""Collect trust evidence as batches finish and hand it to the tracker in groups.

Applying one SQLite transaction per group instead of per batch keeps the
coordinator's result loop fast. A flush happens in the buffer's own thread
when ``max_blocks`` are waiting or the oldest has waited ``max_age_seconds``
(SQLite works without the GIL, so the result loop goes on meanwhile), and in
the caller's thread on ``flush`` and ``close``; ``add`` waits only when
``4 * max_blocks`` are waiting, so memory stays bounded however far the
database falls behind. The tracker skips evidence it holds already, so the
buffer need not. A flush that fails (a locked or full database) puts its
evidence back and keeps the error: the next ``add`` or ``close`` raises it,
so a run ends with it instead of losing evidence quietly (the journal still
holds every batch).
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from recursive_training.base import ConfigError

from .evidence import EvidenceBlock
from .optimized_trust_tracker import OptimizedTrustTracker

__all__ = ["TrustUpdateBuffer"]


class TrustUpdateBuffer:
    """Thread-safe; counts the origins that were new to the tracker and those it already held."""

    def __init__(self, tracker: OptimizedTrustTracker, *, max_blocks: int = 1000,
                 max_age_seconds: float = 5.0) -> None:
        if max_blocks < 1 or max_age_seconds <= 0:
            raise ConfigError("trust buffer needs max_blocks >= 1 and max_age_seconds > 0")
        self.tracker = tracker
        self.max_blocks = max_blocks
        self.max_age_seconds = max_age_seconds
        self.applied = 0
        self.duplicates_ignored = 0
        self.error: Exception | None = None
        self._pending: list[EvidenceBlock] = []
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._closed = threading.Event()
        self._full = threading.Event()
        self._flusher = threading.Thread(target=self._flush_when_due, name="trust-buffer", daemon=True)
        self._flusher.start()

    def add(self, blocks: Iterable[EvidenceBlock]) -> None:
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("trust update buffer is closed")
            if self.error is not None:
                raise self.error
            self._pending.extend(blocks)
            if self._pending and self._oldest is None:
                self._oldest = time.monotonic()
            waiting = len(self._pending)
        if waiting >= 4 * self.max_blocks:  # the database fell behind: catch up here, so memory stays bounded
            self.flush()
        elif waiting >= self.max_blocks:
            self._full.set()

    def flush(self) -> int:
        """Apply everything pending now; return how many origins were new to the tracker."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending, self._oldest = self._pending, [], None
            if not pending:
                return 0
            try:
                applied = self.tracker.apply(pending)
            except Exception as exc:
                with self._lock:  # nothing is dropped: it waits for the next flush
                    self._pending[:0] = pending
                    self._oldest = self._oldest or time.monotonic()
                    self.error = exc
                raise
            self.applied += applied
            self.duplicates_ignored += sum(len(b) for b in pending) - applied
            return applied

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _flush_when_due(self) -> None:
        tick = min(self.max_age_seconds / 4, 0.5)
        while not self._closed.is_set():
            full = self._full.wait(tick)
            self._full.clear()
            with self._lock:
                due = full or (self._oldest is not None and time.monotonic() - self._oldest >= self.max_age_seconds)
            if due and not self._closed.is_set():
                try:
                    self.flush()
                except Exception:  # kept in self.error; the run's next add or close raises it
                    return

    def close(self) -> None:
        with self._lock:
            self._closed.set()
        self._full.set()  # wake the flusher to see it is closed
        self._flusher.join()
        self.flush()

    def __enter__(self) -> "TrustUpdateBuffer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
