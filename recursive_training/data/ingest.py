"""Read a source file (CSV or Parquet, long or wide) into validated long rows.

Validation is all-or-nothing: the first problem raises :class:`IngestError`
naming the file and the line (CSV, header = line 1) or row (Parquet, frames),
and nothing is written. Timestamps must be ISO 8601; time-zone-aware ones are
converted to UTC and all are stored as naive UTC.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import DataError, IngestError
from .naming import check_variable_name

__all__ = ["SourceRows", "read_source", "TIMESTAMP_COLUMNS"]

TIMESTAMP_COLUMNS = ("timestamp", "time", "date", "datetime")
_AWARE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_NAN_TEXT = {"nan", "+nan", "-nan"}


@dataclass(frozen=True)
class SourceRows:
    """Validated long-format rows, sorted by variable then timestamp."""

    name: str
    frame: pd.DataFrame  # columns: variable (str), timestamp (datetime64[ns]), value (float64)


def read_source(source: str | Path | pd.DataFrame, *, sort: bool = False) -> SourceRows:
    """Load and validate ``source``; with ``sort`` unsorted input is sorted instead of refused."""
    if isinstance(source, pd.DataFrame):
        name, raw, locate = "<frame>", source.copy(), _row_locator(0, "row")
    else:
        path = Path(source)
        name = str(path)
        raw, locate = _read_file(path)
    if raw.empty:
        raise IngestError(f"{name}: no data rows")
    try:
        frame = _to_long(raw, locate)
        frame = _check_order(frame, locate, sort)
    except DataError as exc:
        raise IngestError(f"{name}: {exc}") from None
    return SourceRows(name=name, frame=frame)


def _row_locator(first: int, word: str) -> Callable[[int], str]:
    return lambda position: f"{word} {position + first}"


def _read_file(path: Path) -> tuple[pd.DataFrame, Callable[[int], str]]:
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise IngestError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet")
    try:
        if path.stat().st_size == 0:
            raise IngestError(f"{path}: file is empty")
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:  # pandas would rename a repeat to 'x.1'
                try:
                    _refuse_repeated_columns(next(csv.reader(handle, skipinitialspace=True), []))
                except DataError as exc:
                    raise IngestError(f"{path}: {exc}") from None
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
            return frame, _row_locator(2, "line")
        return pq.read_table(path).to_pandas(), _row_locator(1, "row")
    except IngestError:
        raise
    except pd.errors.EmptyDataError:
        raise IngestError(f"{path}: file is empty") from None
    except (OSError, pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(f"{path}: cannot read file ({reason})") from None


def _refuse_repeated_columns(header: list) -> None:
    names = [str(c).strip().lower() for c in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"column {repeated[0]!r} appears more than once")


def _to_long(raw: pd.DataFrame, locate: Callable[[int], str]) -> pd.DataFrame:
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
    timestamps = _parse_timestamps(raw[time_column], locate)
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


def _parse_timestamps(column: pd.Series, locate) -> np.ndarray:
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
    if aware.any() and not aware.all():
        position = int(np.flatnonzero(aware != aware[0])[0])
        raise DataError(
            f"{locate(position)}: mixed time zones: {text.iloc[position]!r} differs in "
            f"time-zone awareness from {text.iloc[0]!r}"
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


def _check_order(frame: pd.DataFrame, locate, sort: bool) -> pd.DataFrame:
    """Refuse duplicate (variable, timestamp) pairs, and unsorted input unless ``sort``."""
    by_time = frame.sort_values(["variable", "timestamp"], kind="stable", ignore_index=True)
    i = _first_repeat(by_time, lambda ts: ts[1:] == ts[:-1])
    if i is not None:
        first, second = sorted(int(by_time["position"].iat[j]) for j in (i - 1, i))
        raise DataError(
            f"{locate(second)}: duplicate timestamp {pd.Timestamp(by_time['timestamp'].iat[i])} for variable "
            f"{by_time['variable'].iat[i]!r} (also at {locate(first)})"
        )
    as_given = frame.sort_values(["variable", "position"], kind="stable", ignore_index=True)
    i = _first_repeat(as_given, lambda ts: ts[1:] < ts[:-1])
    if i is not None and not sort:
        ts = as_given["timestamp"]
        raise DataError(
            f"{locate(int(as_given['position'].iat[i]))}: variable {as_given['variable'].iat[i]!r} is not sorted "
            f"by timestamp ({pd.Timestamp(ts.iat[i])} after {pd.Timestamp(ts.iat[i - 1])}); sort it or pass --sort"
        )
    return by_time.drop(columns="position")


def _first_repeat(frame: pd.DataFrame, relation) -> int | None:
    """Index of the first row that stands in ``relation`` to the row before it, within a variable."""
    names = frame["variable"].to_numpy()
    hits = (names[1:] == names[:-1]) & relation(frame["timestamp"].to_numpy())
    return int(np.flatnonzero(hits)[0]) + 1 if hits.any() else None
