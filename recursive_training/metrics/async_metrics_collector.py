"""Send metrics from inside a worker without ever blocking the training loop.

``submit`` only appends to an unbounded queue; a background thread groups
metrics into chunks and hands them to ``send`` (by default a Dask event topic
via the worker's ``log_event``). ``close`` drains the queue before returning,
so a batch never ends with metrics still unsent.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterable

from .metrics_store import RECORD_SEPARATOR

__all__ = ["AsyncMetricsCollector", "dask_event_sender", "METRICS_TOPIC"]

METRICS_TOPIC = "retrodiction-metrics"
# {"run_id", "batch_id", "series": [item, ...]}, each item a series [variable, model, name, time, first position,
# [value, ...]] or a record [variable, model, [name, ...], time, position, [value, ...]] (a value per name)
Chunk = dict
_CLOSE = object()


def dask_event_sender(topic: str = METRICS_TOPIC) -> Callable[[Chunk], None]:
    """A sender that logs each chunk as one event on ``topic`` of the current worker."""
    from distributed import get_worker

    worker = get_worker()
    return lambda chunk: worker.log_event(topic, chunk)


class AsyncMetricsCollector:
    """Per-batch metric pipe; use as a context manager so it is always closed."""

    def __init__(self, send: Callable[[Chunk], None], *, run_id: str, batch_id: str,
                 chunk_size: int = 2000, max_delay_seconds: float = 0.5) -> None:
        self._send = send
        self.run_id = run_id
        self.batch_id = batch_id
        self.chunk_size = chunk_size
        self.max_delay_seconds = max_delay_seconds
        self.submitted = 0
        self.sent = 0
        self.error: str | None = None
        self._positions: dict[tuple[str, str, str], int] = {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._pump, name=f"metrics-{batch_id}", daemon=True)
        self._thread.start()

    def submit(self, variable: str, model: str, name: str, value: float) -> None:
        """Queue one metric; returns at once."""
        self.submit_many(variable, model, name, (value,))

    def submit_many(self, variable: str, model: str, name: str, values: Iterable[float]) -> None:
        """Queue a series of metrics of one name (say, one per origin) as a single item.

        A series travels as one list of floats, which msgpack, the scheduler
        and the coordinator handle far faster than one record per value.
        """
        values = [float(v) for v in values]
        first = self._positions.get((variable, model, name), 0)  # each value's identity in the batch
        self._positions[(variable, model, name)] = first + len(values)
        self.submitted += len(values)
        self._queue.put([variable, model, name, time.time(), first, values])

    def submit_record(self, variable: str, model: str, values: dict[str, float]) -> None:
        """Queue several metrics of one (variable, model), say a forecast's scores, as a single item.

        The record takes one position, past every earlier value of its names,
        so each name's values still have distinct positions.
        """
        names = list(values)
        if any(RECORD_SEPARATOR in name for name in names):
            raise ValueError(f"metric names may not contain {RECORD_SEPARATOR!r}: {names}")
        position = max((self._positions.get((variable, model, name), 0) for name in names), default=0)
        for name in names:
            self._positions[(variable, model, name)] = position + 1
        self.submitted += len(names)
        self._queue.put([variable, model, names, time.time(), position, [float(v) for v in values.values()]])

    def _pump(self) -> None:
        chunk: list[list] = []
        count = 0
        deadline = time.monotonic() + self.max_delay_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _CLOSE:
                self._emit(chunk, count)
                return
            if item is not None:
                chunk.append(item)
                count += len(item[-1])
            if count >= self.chunk_size or (chunk and time.monotonic() >= deadline):
                self._emit(chunk, count)
                chunk, count = [], 0
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self.max_delay_seconds

    def _emit(self, chunk: list[list], count: int) -> None:
        if not chunk or self.error:
            return
        try:
            self._send({"run_id": self.run_id, "batch_id": self.batch_id, "series": chunk})
            self.sent += count
        except Exception as exc:  # a broken metrics channel must not fail the batch
            self.error = f"{type(exc).__name__}: {exc}"

    def close(self) -> int:
        """Send everything still queued; return the number of metrics sent."""
        if self._thread.is_alive():
            self._queue.put(_CLOSE)
            self._thread.join()
        return self.sent

    def __enter__(self) -> "AsyncMetricsCollector":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
