"""Send metrics from inside a worker without ever blocking the training loop.

``submit`` only appends to an unbounded queue; a background thread groups
metrics into chunks and hands them to ``send`` (by default a Dask event topic
via the worker's ``log_event``). ``close`` drains the queue before returning,
so a batch never ends with metrics still unsent.

The thread wakes when a chunk's worth is waiting, when ``max_delay_seconds``
have passed, or at close, never per item: a queue that woke it for each of a
batch's few hundred items made the two threads trade the interpreter lock
each time, about 3% of a grid batch's time.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Iterable

from .metrics_store import RECORD_SEPARATOR

__all__ = ["AsyncMetricsCollector", "dask_event_sender", "METRICS_TOPIC"]

METRICS_TOPIC = "retrodiction-metrics"
# {"run_id", "batch_id", "series": [item, ...]}, each item a series [variable, model, name, time, first position,
# [value, ...]] or a record [variable, model, [name, ...], time, position, [value, ...]] (a value per name)
Chunk = dict


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
        self._pending: collections.deque[list] = collections.deque()  # appends and pops are atomic
        self._unannounced = 0  # values queued since the thread was last woken for a full chunk
        self._wake = threading.Event()
        self._closing = False
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
        self._queue_item([variable, model, name, time.time(), first, values])

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
        self._queue_item([variable, model, names, time.time(), position, [float(v) for v in values.values()]])

    def _queue_item(self, item: list) -> None:
        self._pending.append(item)
        self._unannounced += len(item[-1])
        if self._unannounced >= self.chunk_size:
            self._unannounced = 0
            self._wake.set()

    def _pump(self) -> None:
        while True:
            self._wake.wait(self.max_delay_seconds)
            self._wake.clear()
            closing = self._closing  # read first: whatever was queued before close() is in the deque now
            chunk: list[list] = []
            count = 0
            while self._pending:
                item = self._pending.popleft()
                chunk.append(item)
                count += len(item[-1])
                if count >= self.chunk_size:
                    self._emit(chunk, count)
                    chunk, count = [], 0
            self._emit(chunk, count)
            if closing:
                return

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
            self._closing = True
            self._wake.set()
            self._thread.join()
        return self.sent

    def __enter__(self) -> "AsyncMetricsCollector":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
