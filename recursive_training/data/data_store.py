"""The Parquet-backed store every worker reads its windows from.

Layout under one root, a local directory or an object-storage URL (see location.py)::

    catalog.json                 variables: ranges, counts, frequency, and where each one's rows are
    data/bucket-<id>.parquet     up to BUCKET_VARIABLES variables, one after another, each sorted
                                 by time and starting a row group of its own

A batch of 750 variables then opens a few files instead of 750 (opening
them was most of its time), and reads only its window's row groups of each
with one call per file; the catalog names each variable's file and row
groups, so one variable is read as before. Stores written before buckets
(``data/variable=<name>/part-0.parquet``, a file per variable) read as they
are; an ingest moves the variables it changes into buckets.

A source is validated completely before anything is written; then each
new bucket is written whole to a name of its own, the catalog is published
last, and only then are files that no variable names any more deleted, so
a failed ingest leaves the store as it was and a reader never sees half of
one. A bucket that an ingest leaves less than half alive (its other
variables moved to newer buckets) is rewritten with that ingest, so the
store never holds much more than its data.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import (
    DataError,
    IngestError,
    StoreCorruptError,
    UnknownVariableError,
    return_large_allocations,
    to_utc_naive,
)
from .ingest import read_source
from .location import StoreLocation

__all__ = ["RecursiveDataStore", "VariableInfo", "IngestReport", "as_series", "overlapping_row_groups", "slice_sorted"]

CATALOG_NAME = "catalog.json"
CATALOG_FORMAT = 2  # 2: variables name their row groups in bucket files; 1: a file per variable
ROW_GROUP_ROWS = 8192  # small enough that a year of hourly data skips most groups
BUCKET_VARIABLES = 1000  # variables per bucket file at most
BUCKET_ROWS = 1_048_576  # rows per bucket file at most (16 MiB of timestamps and values) unless one variable has more: also what an ingest sorts at a time
# timestamp first: row-group pushdown reads its statistics as column 0 (as in stores of a file per variable);
# the variable's name on every row, dictionary-encoded (a few bytes a row group), so a bucket file read with
# any Parquet tool says what it holds, catalog or not
_SCHEMA = pa.schema([("timestamp", pa.timestamp("ns")), ("value", pa.float64()),
                     ("variable", pa.dictionary(pa.int32(), pa.string()))])


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
    row_groups: tuple[int, int] | None = None  # [first, stop) in the file; None: the file is this variable's alone

    def __post_init__(self) -> None:
        if self.row_groups is not None:  # a list when read from JSON
            object.__setattr__(self, "row_groups", tuple(self.row_groups))

    @property
    def groups(self) -> range | None:
        """The variable's row groups in its file, or None for all of them."""
        return None if self.row_groups is None else range(*self.row_groups)

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


def _describe(name: str, path: str, row_groups: tuple[int, int], timestamps: np.ndarray) -> VariableInfo:
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
        row_groups=row_groups,
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
        body = {"format_version": CATALOG_FORMAT, "variables": {n: asdict(i) for n, i in sorted(self._catalog.items())}}
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

    def _groups_of(self, variable: str, parquet: pq.ParquetFile) -> list[int]:
        """The row groups that hold ``variable`` in its (opened) file."""
        groups = self.info(variable).groups
        return list(range(parquet.metadata.num_row_groups) if groups is None else groups)

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
        is refused unless ``replace``, which overwrites it. The changed
        variables go to new bucket files and the catalog naming them is
        published last (see the module docstring).
        """
        return_large_allocations()  # memory must not grow with the number of parts
        with read_source(source, sort=sort) as rows:
            catalog, written = dict(self._catalog), []  # the buckets written, deleted again if the ingest fails
            added = unchanged = replaced = 0
            changed_names: list[str] = []
            try:
                for part in rows.parts(BUCKET_ROWS, BUCKET_VARIABLES):
                    changed = {}
                    for name, ts, values in part:
                        merged, counts = self._merged(rows.name, name, ts, values, replace)
                        added, unchanged, replaced = added + counts[0], unchanged + counts[1], replaced + counts[2]
                        if merged is not None:
                            changed[name] = merged
                    written += self._write_buckets(changed, catalog)
                    changed_names += changed
                    del part, changed  # one part in memory at a time
                for moving in self._moved_with(changed_names):
                    written += self._write_buckets(moving, catalog, moved=True)
                before = self._publish(catalog) if changed_names else self._catalog
            except BaseException:
                for relative in written:
                    self.location.delete(relative)
                raise
        for relative in {info.path for info in before.values()} - {info.path for info in catalog.values()}:
            self.location.delete(relative)  # only once no published catalog names them
        return IngestReport(source=rows.name, rows=added, variables=tuple(sorted(changed_names)), unchanged=unchanged,
                            replaced=replaced)

    def _merged(self, source: str, name: str, ts: np.ndarray, values: np.ndarray, replace: bool,
                ) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[int, int, int]]:
        """``name``'s rows with what the store holds of it, or None if they add nothing; and the rows added,
        already stored alike, and replaced."""
        if name not in self._catalog:
            return (ts, values), (len(ts), 0, 0)
        old_ts, old_values = self._read_arrays(name, None, None)
        _, old_at, new_at = np.intersect1d(old_ts, ts, return_indices=True)
        same = old_values[old_at] == values[new_at]
        if not replace and not same.all():
            clash = ts[new_at[~same][0]]
            raise IngestError(f"{source}: variable {name!r} already has another value at {pd.Timestamp(clash)} "
                              "in the store (ingest --replace overwrites)")
        counts = (len(ts) - len(new_at), int(same.sum()), int((~same).sum()))
        if len(ts) == counts[1]:
            return None, counts  # nothing new for this variable: leave its file alone
        keep_old = np.ones(len(old_ts), dtype=bool)
        keep_old[old_at] = False  # the new rows stand for these timestamps
        ts = np.concatenate([old_ts[keep_old], ts])
        values = np.concatenate([old_values[keep_old], values])
        order = np.argsort(ts, kind="stable")
        return (ts[order], values[order]), counts

    def _publish(self, catalog: dict[str, VariableInfo]) -> dict[str, VariableInfo]:
        """Publish ``catalog``; the catalog it replaced."""
        before, self._catalog = self._catalog, catalog
        try:
            self._write_catalog()
        except BaseException:
            self._catalog = before
            raise
        return before

    def _moved_with(self, changed: list[str]) -> Iterator[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """The unchanged variables of each bucket that ``changed`` leaves less than half alive, read back, a
        bucket at a time."""
        live: dict[str, list[str]] = defaultdict(list)
        for name, info in self._catalog.items():
            live[info.path].append(name)
        changing = set(changed)
        for path in sorted({self._catalog[name].path for name in changed if name in self._catalog}):
            staying = [name for name in live[path] if name not in changing]
            if not staying:
                continue
            try:
                stored = self.location.open_parquet(path).metadata.num_rows
            except (OSError, pa.ArrowException) as exc:
                raise self._unreadable(staying[0], exc) from None
            if 2 * sum(self._catalog[name].count for name in staying) < stored:
                yield {name: self._read_arrays(name, None, None) for name in staying}

    def _write_buckets(self, series: dict[str, tuple[np.ndarray, np.ndarray]], catalog: dict[str, VariableInfo],
                       *, moved: bool = False) -> list[str]:
        """``series`` in name order as bucket files, entered in ``catalog`` (described afresh, or only
        ``moved``); the files' relative paths."""
        written = []
        names = sorted(series)
        while names:
            bucket = [names.pop(0)]
            rows = len(series[bucket[0]][0])
            while names and len(bucket) < BUCKET_VARIABLES and rows + len(series[names[0]][0]) <= BUCKET_ROWS:
                rows += len(series[names[0]][0])
                bucket.append(names.pop(0))
            tables = [_bucket_table(name, *series[name]) for name in bucket]
            relative = self.location.write_parquet("data", "bucket", tables, ROW_GROUP_ROWS)
            written.append(relative)
            first = 0
            for name, table in zip(bucket, tables, strict=True):
                row_groups = (first, first + -(-table.num_rows // ROW_GROUP_ROWS))
                catalog[name] = (dataclasses.replace(catalog[name], path=relative, row_groups=row_groups) if moved
                                 else _describe(name, relative, row_groups, series[name][0]))
                first = row_groups[1]
        return written

    # reads -------------------------------------------------------------------
    def _read_arrays(
        self, variable: str, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps (datetime64[ns]) and values in ``[start, end)``."""
        try:
            parquet = self._partition(variable)
            table = parquet.read_row_groups(self._groups_of(variable, parquet), columns=["timestamp", "value"],
                                            use_threads=False)
        except (OSError, pa.ArrowException) as exc:
            raise self._unreadable(variable, exc) from None
        ts = table.column("timestamp").to_numpy().astype("datetime64[ns]", copy=False)
        return slice_sorted(ts, table.column("value").to_numpy(), start, end)

    def load(self, variable: str, start: object = None, end: object = None) -> pd.Series:
        """Observations of ``variable`` in ``[start, end)`` (open bounds when None)."""
        return self.load_many([variable], start, end)[variable]

    def load_many(self, variables: Iterable[str], start: object = None, end: object = None) -> dict[str, pd.Series]:
        """:meth:`load` of each of ``variables``, read together (a variant reads each file once)."""
        lo = None if start is None else to_utc_naive(start, "start")
        hi = None if end is None else to_utc_naive(end, "end")
        return {v: as_series(v, *arrays) for v, arrays in self._read_many({v: (lo, hi) for v in variables}).items()}

    def load_window(self, variable: str, start: object, end: object, *, before: int, after: int) -> pd.Series:
        """``[start, end)`` plus up to ``before`` observations before it and ``after`` after it."""
        return self.load_windows([variable], start, end, before=before, after=after)[variable]

    def load_windows(self, variables: Iterable[str], start: object, end: object, *, before: int,
                     after: int) -> dict[str, pd.Series]:
        """:meth:`load_window` of each of ``variables``, read together (a variant reads each file once).

        The span to read is estimated from the catalog's median step and
        widened to the whole history only when gaps make the estimate short.
        """
        lo, hi = to_utc_naive(start, "start"), to_utc_naive(end, "end")
        spans = {}
        for variable in variables:
            margin = self.info(variable).median_step * 2
            spans[variable] = (lo - margin * (before + 1), hi + margin * (after + 1))
        windows = {}
        for variable, (ts, values) in self._read_many(spans).items():
            info, (read_lo, read_hi) = self.info(variable), spans[variable]
            n_before = int(np.searchsorted(ts, lo.to_datetime64()))
            n_after = len(ts) - int(np.searchsorted(ts, hi.to_datetime64()))
            if (n_before < before and read_lo > pd.Timestamp(info.first)) or (
                    n_after < after and read_hi <= pd.Timestamp(info.last)):
                ts, values = self._read_arrays(variable, None, None)
            begin = max(0, int(np.searchsorted(ts, lo.to_datetime64())) - before)
            stop = min(len(ts), int(np.searchsorted(ts, hi.to_datetime64())) + after)
            windows[variable] = as_series(variable, ts[begin:stop], values[begin:stop])
        return windows

    def _read_many(self, spans: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]],
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each variable's timestamps and values in its ``[start, end)``, in the order given."""
        return {variable: self._read_arrays(variable, lo, hi) for variable, (lo, hi) in spans.items()}


def _bucket_table(name: str, timestamps: np.ndarray, values: np.ndarray) -> pa.Table:
    names = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(timestamps), np.int32)), pa.array([name]))
    return pa.Table.from_arrays([pa.array(timestamps, pa.timestamp("ns")), pa.array(values), names], schema=_SCHEMA)


def slice_sorted(
    ts: np.ndarray, values: np.ndarray, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[np.ndarray, np.ndarray]:
    lo = 0 if start is None else int(np.searchsorted(ts, start.to_datetime64(), side="left"))
    hi = len(ts) if end is None else int(np.searchsorted(ts, end.to_datetime64(), side="left"))
    return ts[lo:hi], values[lo:hi]


def as_series(variable: str, ts: np.ndarray, values: np.ndarray) -> pd.Series:
    index = pd.DatetimeIndex(ts, name="timestamp", copy=False)
    return pd.Series(values, index=index, name=variable, copy=False)  # views: streaming stays bounded


def overlapping_row_groups(parquet: pq.ParquetFile, lo, hi, groups: Iterable[int]) -> list[int]:
    """Those of ``groups`` whose timestamp statistics meet ``[lo, hi)``; all of them when stats are absent."""
    chosen = []
    for i in groups:
        stats = parquet.metadata.row_group(i).column(0).statistics
        if stats is None or not stats.has_min_max:
            chosen.append(i)
            continue
        group_min, group_max = pd.Timestamp(stats.min), pd.Timestamp(stats.max)
        if (hi is None or group_min < hi) and (lo is None or group_max >= lo):
            chosen.append(i)
    return chosen
