"""A store that reads only what a window needs and remembers it per process.

Reads skip the row groups whose statistics lie outside the range (they are
never decoded) and read only the two columns. Results land in a bounded, process-wide LRU
cache, so a Dask worker that serves many batches of one variable reads its
file once: a variable small enough is cached whole, a larger one by range.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import StoreCorruptError
from .data_store import RecursiveDataStore, overlapping_row_groups, slice_sorted
from .location import StoreLocation

__all__ = ["OptimizedDataStore", "SegmentCache", "PROCESS_CACHE"]

_BYTES_PER_ROW = 16  # int64 timestamp + float64 value


@dataclass(frozen=True)
class _Segment:
    start: pd.Timestamp | None  # None: from the first observation
    end: pd.Timestamp | None  # None: to the last observation
    timestamps: np.ndarray
    values: np.ndarray

    def covers(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> bool:
        starts_early = self.start is None or (start is not None and self.start <= start)
        ends_late = self.end is None or (end is not None and end <= self.end)
        return starts_early and ends_late

    @property
    def nbytes(self) -> int:
        return self.timestamps.nbytes + self.values.nbytes


class SegmentCache:
    """Thread-safe LRU of loaded ranges, bounded in bytes, keyed by file identity.

    The key includes the file's size and modification time, so a variable
    re-ingested after caching is read afresh.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, _Segment] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def find(self, file_key: tuple, start, end) -> _Segment | None:
        with self._lock:
            for key, segment in reversed(self._entries.items()):
                if key[0] == file_key and segment.covers(start, end):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return segment
            self.misses += 1
            return None

    def put(self, file_key: tuple, segment: _Segment) -> None:
        if segment.nbytes > self.max_bytes:
            return
        with self._lock:
            key = (file_key, segment.start, segment.end)
            if key not in self._entries:
                self._bytes += segment.nbytes
            self._entries[key] = segment
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes


PROCESS_CACHE = SegmentCache()


class OptimizedDataStore(RecursiveDataStore):
    """Same interface as :class:`RecursiveDataStore`; reads less and caches."""

    def __init__(self, root: str | os.PathLike[str] | StoreLocation, *, create: bool = False,
                 cache: SegmentCache | None = None) -> None:
        super().__init__(root, create=create)
        self.cache = PROCESS_CACHE if cache is None else cache

    def _read_arrays(self, variable, start, end):
        try:
            file_key = self.location.file_key(self.info(variable).path)
            segment = self.cache.find(file_key, start, end)
            if segment is None:
                whole = self.info(variable).count * _BYTES_PER_ROW * 4 <= self.cache.max_bytes
                lo, hi = (None, None) if whole else (start, end)
                segment = _Segment(lo, hi, *_read_range(self._partition(variable), lo, hi))
                self.cache.put(file_key, segment)
        except (OSError, pa.ArrowException, StoreCorruptError) as exc:
            raise self._unreadable(variable, exc) from None
        ts, values = slice_sorted(segment.timestamps, segment.values, start, end)
        return ts.copy(), values.copy()  # callers may modify what they get; the cache must not change


def _read_range(parquet: pq.ParquetFile, start, end) -> tuple[np.ndarray, np.ndarray]:
    """``[start, end)`` of a partition, decoding only the row groups whose statistics meet it."""
    table = parquet.read_row_groups(overlapping_row_groups(parquet, start, end), columns=["timestamp", "value"],
                                    use_threads=False)
    ts = table.column("timestamp").to_numpy().astype("datetime64[ns]", copy=False)
    return slice_sorted(ts, table.column("value").to_numpy(), start, end)
