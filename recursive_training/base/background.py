"""Doing useful work here while something slow starts in the background."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

__all__ = ["BackgroundStart"]

T = TypeVar("T")


class BackgroundStart(Generic[T]):
    """``start()`` running in a thread from construction on, while the caller works until :attr:`done`.

    Why: a local cluster spends seconds importing on one core while the
    other would idle; the caller's first pieces of work fill that time. The
    thread is a daemon, so a start that never returns cannot hold up exit
    (a ``concurrent.futures`` thread would).
    """

    def __init__(self, start: Callable[[], T], name: str = "start") -> None:
        self._ready = threading.Event()
        self._outcome: list[T] = []
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(start,), name=name, daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._ready.is_set()

    def result(self) -> T:
        """Wait for the start; what it returned, or raise what it raised (here, in the caller's thread)."""
        self._thread.join()
        if self._failure:
            raise self._failure[0]
        return self._outcome[0]

    def _run(self, start: Callable[[], T]) -> None:
        try:
            self._outcome.append(start())
        except BaseException as exc:
            self._failure.append(exc)
        finally:
            self._ready.set()
