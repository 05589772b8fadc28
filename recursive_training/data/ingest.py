"""Read a source file (CSV or Parquet, long or wide) into validated long rows.

Validation is all-or-nothing: the first problem raises :class:`IngestError`
naming the file and the line (CSV, header = line 1) or row (Parquet, frames),
and nothing is written. Timestamps must be ISO 8601; time-zone-aware ones are
converted to UTC and all are stored as naive UTC.

Files are read in blocks of about ``CELLS_PER_BLOCK`` cells (CSV through
pandas' chunked reader, Parquet by record batches): each block is validated
and kept as numbers only, each variable's name once (about 28 bytes a row,
where the text of the whole file took about 290), so the text of one block
is all that is ever held.
"""

from __future__ import annotations

import contextlib
import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import DataError, IngestError
from .naming import check_variable_name

__all__ = ["SourceRows", "read_source", "TIMESTAMP_COLUMNS"]

TIMESTAMP_COLUMNS = ("timestamp", "time", "date", "datetime")
CELLS_PER_BLOCK = 1_000_000  # text cells parsed at a time (fewer made wide files slower, barely smaller)
_AWARE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_NAN_TEXT = {"nan", "+nan", "-nan"}


@dataclass(frozen=True)
class SourceRows:
    """Validated long-format rows, sorted by variable then timestamp."""

    name: str
    frame: pd.DataFrame  # columns: variable (categorical, in name order), timestamp (datetime64[ns]), value

    def by_variable(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Each variable's timestamps and values, as views of the frame's columns (no copies)."""
        codes = self.frame["variable"].cat.codes.to_numpy()
        timestamps = self.frame["timestamp"].to_numpy(dtype="datetime64[ns]")
        values = self.frame["value"].to_numpy(dtype=float)
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.empty(0, np.int64)
        names = self.frame["variable"].cat.categories
        for start, stop in zip(starts, [*starts[1:], len(codes)]):
            yield str(names[codes[start]]), timestamps[start:stop], values[start:stop]


def read_source(source: str | Path | pd.DataFrame, *, sort: bool = False) -> SourceRows:
    """Load and validate ``source``; with ``sort`` unsorted input is sorted instead of refused."""
    if isinstance(source, pd.DataFrame):
        name, blocks, locate = "<frame>", iter([source.copy()]), _row_locator(0, "row")
    else:
        path = Path(source)
        name = str(path)
        blocks, locate = _read_file(path)
    rows = _Collected()
    try:
        for raw in blocks:
            offset = rows.seen
            rows.add(_to_long(raw, lambda position: locate(position + offset), rows.first_timestamp), offset,
                     len(raw))
        if not rows.seen:
            raise IngestError(f"{name}: no data rows")
        frame = _in_order(*rows.columns(), locate, sort)
    except DataError as exc:
        raise IngestError(f"{name}: {exc}") from None
    return SourceRows(name=name, frame=frame)


class _Collected:
    """Validated long rows gathered block by block: numbers, and each variable's name once."""

    def __init__(self) -> None:
        self.seen = 0  # source rows read so far
        self.first_timestamp: list[str] = []  # the file's first timestamp text, once known (see _parse_timestamps)
        self._codes: dict[str, int] = {}
        self._columns: tuple[list[np.ndarray], ...] = ([], [], [], [])  # codes, timestamps, values, positions

    def add(self, long: pd.DataFrame, offset: int, source_rows: int) -> None:
        names = pd.Categorical(long["variable"])
        code_of = np.array([self._codes.setdefault(str(n), len(self._codes)) for n in names.categories],
                           dtype=np.int32)
        codes = code_of[names.codes] if len(names) else np.empty(0, np.int32)
        for pieces, column in zip(self._columns, (codes, long["timestamp"].to_numpy(dtype="datetime64[ns]"),
                                                  long["value"].to_numpy(dtype=float),
                                                  long["position"].to_numpy(dtype=np.int64) + offset)):
            pieces.append(column)
        self.seen += source_rows

    def columns(self) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Codes (numbering the names in name order), the names, timestamps, values and source positions.

        Each column is joined and its pieces let go before the next, so the
        rows are held about once.
        """
        names = sorted(self._codes)
        renumber = np.empty(len(names), dtype=np.int32)
        renumber[[self._codes[n] for n in names]] = np.arange(len(names), dtype=np.int32)
        joined = []
        for pieces in self._columns:
            joined.append(np.concatenate(pieces))
            pieces.clear()
        codes, timestamps, values, positions = joined
        return renumber[codes], names, timestamps, values, positions


def _row_locator(first: int, word: str) -> Callable[[int], str]:
    return lambda position: f"{word} {position + first}"


def _read_file(path: Path) -> tuple[Iterator[pd.DataFrame], Callable[[int], str]]:
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise IngestError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet")
    with _reading(path):
        if path.stat().st_size == 0:
            raise IngestError(f"{path}: file is empty")
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:  # pandas would rename a repeat to 'x.1'
                header = next(csv.reader(handle, skipinitialspace=True), [])
            try:
                _refuse_repeated_columns(header)
            except DataError as exc:
                raise IngestError(f"{path}: {exc}") from None
            rows = max(1, CELLS_PER_BLOCK // max(1, len(header)))
            blocks = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, chunksize=rows)
            return _checked(path, blocks), _row_locator(2, "line")
        parquet = pq.ParquetFile(path)
        rows = max(1, CELLS_PER_BLOCK // max(1, len(parquet.schema_arrow)))
        return _checked(path, (batch.to_pandas() for batch in parquet.iter_batches(batch_size=rows))), \
            _row_locator(1, "row")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A file that cannot be read, whenever that shows, as one IngestError naming it."""
    try:
        yield
    except IngestError:
        raise
    except pd.errors.EmptyDataError:
        raise IngestError(f"{path}: file is empty") from None
    except (OSError, pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(f"{path}: cannot read file ({reason})") from None


def _checked(path: Path, blocks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The blocks, with read errors (which show only as a block is read) reported as for the whole file."""
    with _reading(path):
        yield from blocks


def _refuse_repeated_columns(header: list) -> None:
    names = [str(c).strip().lower() for c in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"column {repeated[0]!r} appears more than once")


def _to_long(raw: pd.DataFrame, locate: Callable[[int], str], first_timestamp: list[str]) -> pd.DataFrame:
    """One block as long rows with block positions; ``first_timestamp`` carries the file's first
    timestamp text from block to block (see :func:`_parse_timestamps`)."""
    _refuse_repeated_columns(list(raw.columns))
    names = [str(c).strip().lower() for c in raw.columns]
    columns = dict(zip(names, raw.columns, strict=True))
    time_keys = [k for k in TIMESTAMP_COLUMNS if k in columns]
    if not time_keys:
        raise DataError(
            f"no timestamp column (expected one of {', '.join(TIMESTAMP_COLUMNS)}); "
            f"found {', '.join(map(str, raw.columns))}"
        )
    if len(time_keys) > 1:
        raise DataError(f"several timestamp columns ({', '.join(time_keys)}); keep one")
    time_column = columns[time_keys[0]]
    timestamps = _parse_timestamps(raw[time_column], locate, first_timestamp)
    if "variable" in columns or "value" in columns:
        return _long_rows(raw, columns, time_column, timestamps, locate)
    return _wide_rows(raw, time_column, timestamps, locate)


def _long_rows(raw, columns, time_column, timestamps, locate) -> pd.DataFrame:
    missing = [c for c in ("variable", "value") if c not in columns]
    if missing:
        raise DataError(f"long format needs columns timestamp, variable, value; missing {missing[0]}")
    extra = [str(c) for c in raw.columns if c not in (time_column, columns["variable"], columns["value"])]
    if extra:
        raise DataError(f"long format has unexpected column(s) {', '.join(extra)}")
    variables = raw[columns["variable"]]
    for position, name in enumerate(variables):
        try:
            check_variable_name(name)
        except DataError as exc:
            raise DataError(f"{locate(position)}: {exc}") from None
    values, present = _parse_values(raw[columns["value"]], locate, "value")
    if not present.all():
        position = int(np.flatnonzero(~present)[0])
        raise DataError(f"{locate(position)}: missing value for variable {variables.iloc[position]!r}")
    return pd.DataFrame(
        {"variable": variables.astype(str).to_numpy(), "timestamp": timestamps, "value": values,
         "position": np.arange(len(raw))}
    )


def _wide_rows(raw, time_column, timestamps, locate) -> pd.DataFrame:
    value_columns = [c for c in raw.columns if c != time_column]
    if not value_columns:
        raise DataError("no value columns next to the timestamp column")
    parts = []
    for column in value_columns:
        name = check_variable_name(str(column).strip())
        values, present = _parse_values(raw[column], locate, f"variable {name!r}")
        parts.append(pd.DataFrame({
            "variable": name, "timestamp": timestamps[present], "value": values[present],
            "position": np.flatnonzero(present),
        }))
    return pd.concat(parts, ignore_index=True)


def _parse_timestamps(column: pd.Series, locate, first: list[str]) -> np.ndarray:
    """Timestamps as naive UTC; text ones must all share the awareness of the file's first (``first``
    holds its text once the first block has set it)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        parsed = pd.Series(column)
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise DataError(f"{locate(int(np.flatnonzero(bad)[0]))}: missing timestamp")
        return parsed.to_numpy(dtype="datetime64[ns]")
    text = column.astype(str).str.strip()
    if column.dtype != object and not pd.api.types.is_string_dtype(column.dtype):
        raise DataError(f"timestamp column has type {column.dtype}; use ISO 8601 text or a timestamp type")
    aware = text.str.contains(_AWARE).to_numpy()
    if not first and len(text):
        first.append(text.iloc[0])
    expected = bool(first) and bool(_AWARE.search(first[0]))
    if (aware != expected).any():
        position = int(np.flatnonzero(aware != expected)[0])
        raise DataError(
            f"{locate(position)}: mixed time zones: {text.iloc[position]!r} differs in "
            f"time-zone awareness from {first[0]!r}"
        )
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=bool(aware.any()))
    bad = parsed.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise DataError(f"{locate(position)}: cannot parse timestamp {text.iloc[position]!r} (use ISO 8601)")
    if aware.any():
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[ns]")


def _parse_values(column: pd.Series, locate, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Floats and a mask of present cells; NaN text, infinity or other text are errors."""
    if pd.api.types.is_bool_dtype(column.dtype):
        raise DataError(f"{what} holds true/false, not numbers")
    if pd.api.types.is_numeric_dtype(column.dtype):  # Parquet or frames: null and NaN mean absent
        values = column.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
    else:
        text = column.astype(str).str.strip()
        present = (text != "").to_numpy() & column.notna().to_numpy()
        numbers = pd.to_numeric(text.where(present, "0"), errors="coerce").to_numpy(dtype=float)
        unparsed = np.isnan(numbers) & ~text.str.lower().isin(_NAN_TEXT).to_numpy()
        if unparsed.any():
            position = int(np.flatnonzero(unparsed)[0])
            raise DataError(f"{locate(position)}: {what} {text.iloc[position]!r} is not a number")
        values = numbers
    nan = np.isnan(values) & present
    if nan.any():
        raise DataError(f"{locate(int(np.flatnonzero(nan)[0]))}: {what} is NaN")
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"{locate(int(np.flatnonzero(infinite)[0]))}: {what} is infinite")
    return values, present


def _in_order(codes: np.ndarray, names: list[str], timestamps: np.ndarray, values: np.ndarray,
              positions: np.ndarray, locate, sort: bool) -> pd.DataFrame:
    """The rows sorted by variable then time, after refusing duplicate (variable, timestamp) pairs, and
    unsorted input unless ``sort``; each column is sorted by one index and let go (no frame copies)."""
    by_time = np.lexsort((timestamps, codes))  # stable: ties keep the file's order
    i = _first_repeat(codes[by_time], timestamps[by_time], lambda ts: ts[1:] == ts[:-1])
    if i is not None:
        first, second = sorted(int(positions[by_time[j]]) for j in (i - 1, i))
        raise DataError(
            f"{locate(second)}: duplicate timestamp {pd.Timestamp(timestamps[by_time[i]])} for variable "
            f"{names[codes[by_time[i]]]!r} (also at {locate(first)})"
        )
    as_given = np.lexsort((positions, codes))
    i = _first_repeat(codes[as_given], timestamps[as_given], lambda ts: ts[1:] < ts[:-1])
    if i is not None and not sort:
        later, earlier = as_given[i], as_given[i - 1]
        raise DataError(
            f"{locate(int(positions[later]))}: variable {names[codes[later]]!r} is not sorted by timestamp "
            f"({pd.Timestamp(timestamps[later])} after {pd.Timestamp(timestamps[earlier])}); sort it or pass --sort"
        )
    del as_given, positions
    variable = pd.Categorical.from_codes(codes[by_time], names)
    return pd.DataFrame({"variable": variable, "timestamp": timestamps[by_time], "value": values[by_time]},
                        copy=False)


def _first_repeat(codes: np.ndarray, timestamps: np.ndarray, relation) -> int | None:
    """Index of the first row that stands in ``relation`` to the row before it, within a variable."""
    hits = (codes[1:] == codes[:-1]) & relation(timestamps)
    return int(np.flatnonzero(hits)[0]) + 1 if hits.any() else None
