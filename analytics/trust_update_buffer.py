"""Collect trust updates as batches finish and hand them to the tracker in groups.

Applying one SQLite transaction per group instead of per batch keeps the
coordinator's result loop fast; a flush happens when ``max_updates`` are
waiting, when the oldest has waited ``max_age_seconds``, and on close.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from recursive_training.errors import ConfigError

from .optimized_trust_tracker import OptimizedTrustTracker, TrustUpdate

__all__ = ["TrustUpdateBuffer"]


class TrustUpdateBuffer:
    """Thread-safe; each (update id, variable, model) reaches the tracker at most once."""

    def __init__(self, tracker: OptimizedTrustTracker, *, max_updates: int = 100,
                 max_age_seconds: float = 5.0) -> None:
        if max_updates < 1 or max_age_seconds <= 0:
            raise ConfigError("trust buffer needs max_updates >= 1 and max_age_seconds > 0")
        self.tracker = tracker
        self.max_updates = max_updates
        self.max_age_seconds = max_age_seconds
        self.applied = 0
        self.duplicates_ignored = 0
        self._pending: list[TrustUpdate] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._closed = threading.Event()
        self._timer = threading.Thread(target=self._age_watch, name="trust-buffer-age", daemon=True)
        self._timer.start()

    def add(self, updates: Iterable[TrustUpdate]) -> None:
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("trust update buffer is closed")
            for update in updates:
                if update.identity in self._seen or self.tracker.is_applied(update):
                    self.duplicates_ignored += 1
                    continue
                self._seen.add(update.identity)
                self._pending.append(update)
                if self._oldest is None:
                    self._oldest = time.monotonic()
            full = len(self._pending) >= self.max_updates
        if full:
            self.flush()

    def flush(self) -> int:
        """Apply everything pending now; return how many updates were new to the tracker."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending, self._oldest = self._pending, [], None
            if not pending:
                return 0
            applied = self.tracker.apply(pending)
            self.applied += applied
            return applied

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _age_watch(self) -> None:
        tick = min(self.max_age_seconds / 4, 0.5)
        while not self._closed.wait(tick):
            with self._lock:
                due = self._oldest is not None and time.monotonic() - self._oldest >= self.max_age_seconds
            if due:
                self.flush()

    def close(self) -> None:
        with self._lock:
            self._closed.set()
        self._timer.join()
        self.flush()

    def __enter__(self) -> "TrustUpdateBuffer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
