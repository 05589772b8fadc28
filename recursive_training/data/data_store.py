"""The Parquet-backed store every worker reads its windows from.

Layout under one root directory::

    catalog.json                         variables, ranges, counts, frequency
    data/variable=<name>/part-0.parquet  one partition per variable, sorted

Files are written to a temporary name and renamed into place, and a source is
validated completely before anything is written, so a failed ingest leaves
the store exactly as it was.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import DataError, IngestError, StoreCorruptError, UnknownVariableError, atomic_write_bytes, to_utc_naive
from .ingest import read_source
from .naming import variable_directory

__all__ = ["RecursiveDataStore", "VariableInfo", "IngestReport", "slice_sorted", "as_series"]

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

    def __init__(self, root: str | os.PathLike[str], *, create: bool = False) -> None:
        self.root = Path(root)
        if create:
            (self.root / "data").mkdir(parents=True, exist_ok=True)
        elif not (self.root / CATALOG_NAME).is_file():
            raise DataError(f"no data store at {self.root} (create one with the ingest command)")
        self._catalog = self._read_catalog()

    # catalog -----------------------------------------------------------------
    def _read_catalog(self) -> dict[str, VariableInfo]:
        path = self.root / CATALOG_NAME
        if not path.exists():
            return {}
        try:
            raw = json.loads(path.read_text())
            return {name: VariableInfo(**info) for name, info in raw["variables"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreCorruptError(f"{path}: catalog cannot be read ({exc})") from None

    def _write_catalog(self) -> None:
        body = {"format_version": 1, "variables": {n: asdict(i) for n, i in sorted(self._catalog.items())}}
        atomic_write_bytes(self.root / CATALOG_NAME, json.dumps(body, indent=1).encode())

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

    def variable_file(self, variable: str) -> Path:
        return self.root / self.info(variable).path

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
        for name, group in rows.frame.groupby("variable", sort=True):
            ts = group["timestamp"].to_numpy(dtype="datetime64[ns]")
            values = group["value"].to_numpy(dtype=float)
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
        for name, (ts, values) in merged.items():
            relative = f"data/{variable_directory(name)}/part-0.parquet"
            self._write_variable(self.root / relative, ts, values)
            self._catalog[name] = _describe(name, relative, ts)
        if merged:
            self._write_catalog()
        return IngestReport(source=rows.name, rows=added, variables=tuple(merged), unchanged=unchanged,
                            replaced=replaced)

    @staticmethod
    def _write_variable(path: Path, ts: np.ndarray, values: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_arrays([pa.array(ts, pa.timestamp("ns")), pa.array(values)], schema=_SCHEMA)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS)
        os.replace(tmp, path)

    # reads -------------------------------------------------------------------
    def _read_arrays(
        self, variable: str, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps (datetime64[ns]) and values in ``[start, end)``."""
        path = self.variable_file(variable)
        try:
            frame = pd.read_parquet(path, columns=["timestamp", "value"])
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise StoreCorruptError(f"{path}: cannot read data of variable {variable!r} ({exc})") from None
        ts = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
        return slice_sorted(ts, frame["value"].to_numpy(dtype=float), start, end)

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
