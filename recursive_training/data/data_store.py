"""The Parquet-backed store every worker reads its windows from.

Layout under one root, a local directory or an object-storage URL (see location.py)::

    catalog.json                         variables, ranges, counts, frequency
    data/variable=<name>/part-*.parquet  one partition per variable, sorted

A source is validated completely before anything is written; then each
changed partition is written whole (renamed into place locally, to a new
key on object storage) and the catalog is published last, so a failed
ingest leaves the store as it was and a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import DataError, IngestError, StoreCorruptError, UnknownVariableError, to_utc_naive
from .ingest import read_source
from .location import StoreLocation
from .naming import variable_directory

__all__ = ["RecursiveDataStore", "VariableInfo", "IngestReport", "as_series", "overlapping_row_groups", "slice_sorted"]

CATALOG_NAME = "catalog.json"
ROW_GROUP_ROWS = 8192  # small enough that a year of hourly data skips most groups
_SCHEMA = pa.schema([("timestamp", pa.timestamp("ns")), ("value", pa.float64())])


@dataclass(frozen=True)
class VariableInfo:
    """What the catalog knows of one variable without opening its file."""

    name: str
    first: str
    last: str
    count: int
    frequency: str
    median_step_ns: int
    path: str  # relative to the store root

    @property
    def median_step(self) -> pd.Timedelta:
        return pd.Timedelta(self.median_step_ns, unit="ns")


@dataclass(frozen=True)
class IngestReport:
    """What an ingest changed: rows added, rows already stored alike, stored values replaced."""

    source: str
    rows: int
    variables: tuple[str, ...]
    unchanged: int = 0
    replaced: int = 0


def _describe(name: str, path: str, timestamps: np.ndarray) -> VariableInfo:
    steps = np.diff(timestamps).astype("int64")
    median_step = int(np.median(steps)) if len(steps) else 0
    frequency = None
    if len(timestamps) >= 3:
        with warnings.catch_warnings():  # pandas 3 warns that a future version returns an offset
            warnings.simplefilter("ignore")
            inferred = pd.infer_freq(pd.DatetimeIndex(timestamps))
        frequency = getattr(inferred, "freqstr", inferred)
    return VariableInfo(
        name=name,
        first=pd.Timestamp(timestamps[0]).isoformat(),
        last=pd.Timestamp(timestamps[-1]).isoformat(),
        count=len(timestamps),
        frequency=frequency or (str(pd.Timedelta(median_step)) if median_step else "unknown"),
        median_step_ns=median_step,
        path=path,
    )


class RecursiveDataStore:
    """Base store: reads a variable's whole file with pandas and filters it.

    Subclasses override :meth:`_read_arrays` to read less; everything else
    (catalog, ingest, windows) is shared.
    """

    def __init__(self, root: str | os.PathLike[str] | StoreLocation, *, create: bool = False) -> None:
        self.location = StoreLocation.of(root)
        self.root = self.location.root  # as given: a path or a URL, for messages
        try:
            if create:
                self.location.make_root()
            published = self.location.exists(CATALOG_NAME)
        except (OSError, pa.ArrowException) as exc:  # an unreachable endpoint, a missing bucket, no permission
            raise DataError(f"store {self.root} cannot be reached: {' '.join(str(exc).split())}") from None
        if not published and not create:
            raise DataError(f"no data store at {self.root} (create one with the ingest command)")
        self._catalog = self._read_catalog() if published else {}

    # catalog -----------------------------------------------------------------
    def _read_catalog(self) -> dict[str, VariableInfo]:
        where = f"{self.root}/{CATALOG_NAME}"
        try:
            raw = json.loads(self.location.read_bytes(CATALOG_NAME))
            return {name: VariableInfo(**info) for name, info in raw["variables"].items()}
        except (OSError, pa.ArrowException, ValueError, KeyError, TypeError) as exc:
            raise StoreCorruptError(f"{where}: catalog cannot be read ({exc})") from None

    def _write_catalog(self) -> None:
        body = {"format_version": 1, "variables": {n: asdict(i) for n, i in sorted(self._catalog.items())}}
        self.location.write_bytes(CATALOG_NAME, json.dumps(body, indent=1).encode())

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(sorted(self._catalog))

    def info(self, variable: str) -> VariableInfo:
        try:
            return self._catalog[variable]
        except KeyError:
            known = ", ".join(self.variables[:10]) or "none"
            raise UnknownVariableError(
                f"unknown variable {variable!r} in store {self.root} (known: {known})"
            ) from None

    def variable_file(self, variable: str) -> str:
        """The variable's partition as a path in the store's filesystem."""
        return self.location.path(self.info(variable).path)

    def _partition(self, variable: str) -> pq.ParquetFile:
        """The variable's Parquet file, opened (not read); raises OSError or ArrowException: see :meth:`_unreadable`."""
        return self.location.open_parquet(self.info(variable).path)

    def _unreadable(self, variable: str, exc: BaseException) -> StoreCorruptError:
        """What every variant raises when a partition is missing or damaged."""
        return StoreCorruptError(f"{self.variable_file(variable)}: cannot read data of variable {variable!r} ({exc})")

    # ingest ------------------------------------------------------------------
    def ingest(self, source: str | os.PathLike[str] | pd.DataFrame, *, sort: bool = False,
               replace: bool = False) -> IngestReport:
        """Validate ``source`` completely, then merge it into the store.

        Rows for a variable already in the store are added to it; a row the
        store already holds with the same value is skipped (so ingesting a
        file twice changes nothing); a different value at a stored timestamp
        is refused unless ``replace``, which overwrites it. Each variable's
        file is replaced atomically.
        """
        rows = read_source(source, sort=sort)
        merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        added = unchanged = replaced = 0
        for name, ts, values in rows.by_variable():
            if name in self._catalog:
                old_ts, old_values = self._read_arrays(name, None, None)
                _, old_at, new_at = np.intersect1d(old_ts, ts, return_indices=True)
                same = old_values[old_at] == values[new_at]
                if not replace and not same.all():
                    clash = ts[new_at[~same][0]]
                    raise IngestError(
                        f"{rows.name}: variable {name!r} already has another value at {pd.Timestamp(clash)} "
                        "in the store (ingest --replace overwrites)"
                    )
                unchanged += int(same.sum())
                replaced += int((~same).sum())
                keep_old = np.ones(len(old_ts), dtype=bool)
                keep_old[old_at] = False  # the new rows stand for these timestamps
                if len(ts) == int(same.sum()):
                    continue  # nothing new for this variable: leave its file alone
                added += len(ts) - len(new_at)
                ts = np.concatenate([old_ts[keep_old], ts])
                values = np.concatenate([old_values[keep_old], values])
                order = np.argsort(ts, kind="stable")
                ts, values = ts[order], values[order]
            else:
                added += len(ts)
            merged[name] = (ts, values)
        superseded = []
        for name, (ts, values) in merged.items():
            table = pa.Table.from_arrays([pa.array(ts, pa.timestamp("ns")), pa.array(values)], schema=_SCHEMA)
            relative = self.location.write_parquet(f"data/{variable_directory(name)}", table, ROW_GROUP_ROWS)
            if name in self._catalog and self._catalog[name].path != relative:
                superseded.append(self._catalog[name].path)
            self._catalog[name] = _describe(name, relative, ts)
        if merged:
            self._write_catalog()
        for relative in superseded:  # only once no catalog names them
            self.location.delete(relative)
        return IngestReport(source=rows.name, rows=added, variables=tuple(merged), unchanged=unchanged,
                            replaced=replaced)

    # reads -------------------------------------------------------------------
    def _read_arrays(
        self, variable: str, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps (datetime64[ns]) and values in ``[start, end)``."""
        try:
            table = self._partition(variable).read(columns=["timestamp", "value"], use_threads=False)
        except (OSError, pa.ArrowException) as exc:
            raise self._unreadable(variable, exc) from None
        ts = table.column("timestamp").to_numpy().astype("datetime64[ns]", copy=False)
        return slice_sorted(ts, table.column("value").to_numpy(), start, end)

    def load(self, variable: str, start: object = None, end: object = None) -> pd.Series:
        """Observations of ``variable`` in ``[start, end)`` (open bounds when None)."""
        lo = None if start is None else to_utc_naive(start, "start")
        hi = None if end is None else to_utc_naive(end, "end")
        ts, values = self._read_arrays(variable, lo, hi)
        return as_series(variable, ts, values)

    def load_many(self, variables: Iterable[str], start: object = None, end: object = None) -> dict[str, pd.Series]:
        return {v: self.load(v, start, end) for v in variables}

    def load_window(self, variable: str, start: object, end: object, *, before: int, after: int) -> pd.Series:
        """``[start, end)`` plus up to ``before`` observations before it and ``after`` after it.

        The span to read is estimated from the catalog's median step and
        widened to the whole history only when gaps make the estimate short.
        """
        info = self.info(variable)
        lo, hi = to_utc_naive(start, "start"), to_utc_naive(end, "end")
        margin = info.median_step * 2
        read_lo, read_hi = lo - margin * (before + 1), hi + margin * (after + 1)
        ts, values = self._read_arrays(variable, read_lo, read_hi)
        first_known, last_known = pd.Timestamp(info.first), pd.Timestamp(info.last)
        n_before = int(np.searchsorted(ts, lo.to_datetime64()))
        n_after = len(ts) - int(np.searchsorted(ts, hi.to_datetime64()))
        if (n_before < before and read_lo > first_known) or (n_after < after and read_hi <= last_known):
            ts, values = self._read_arrays(variable, None, None)
        begin = max(0, int(np.searchsorted(ts, lo.to_datetime64())) - before)
        stop = min(len(ts), int(np.searchsorted(ts, hi.to_datetime64())) + after)
        return as_series(variable, ts[begin:stop], values[begin:stop])


def slice_sorted(
    ts: np.ndarray, values: np.ndarray, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[np.ndarray, np.ndarray]:
    lo = 0 if start is None else int(np.searchsorted(ts, start.to_datetime64(), side="left"))
    hi = len(ts) if end is None else int(np.searchsorted(ts, end.to_datetime64(), side="left"))
    return ts[lo:hi], values[lo:hi]


def as_series(variable: str, ts: np.ndarray, values: np.ndarray) -> pd.Series:
    index = pd.DatetimeIndex(ts, name="timestamp", copy=False)
    return pd.Series(values, index=index, name=variable, copy=False)  # views: streaming stays bounded


def overlapping_row_groups(parquet: pq.ParquetFile, lo, hi) -> list[int]:
    """Row groups whose timestamp statistics meet ``[lo, hi)``; all when stats are absent."""
    chosen = []
    for i in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(i).column(0).statistics
        if stats is None or not stats.has_min_max:
            chosen.append(i)
            continue
        group_min, group_max = pd.Timestamp(stats.min), pd.Timestamp(stats.max)
        if (hi is None or group_min < hi) and (lo is None or group_max >= lo):
            chosen.append(i)
    return chosen
