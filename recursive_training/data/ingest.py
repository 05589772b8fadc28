"""Read a source file (CSV or Parquet, long or wide) into validated long rows, in bounded memory.

Validation is all-or-nothing: the first problem raises :class:`IngestError`
naming the file and the line (CSV, header = line 1) or row (Parquet, frames),
and nothing is written. Timestamps must be ISO 8601; time-zone-aware ones are
converted to UTC and all are stored as naive UTC.

Memory does not grow with the file. Files are read in blocks of about
``CELLS_PER_BLOCK`` cells (CSV through pandas' chunked reader, Parquet by
record batches); each block is validated and its rows go to a staging file
on disk as numbers (28 bytes a row: variable code, timestamp, value, source
position). Once every block is read, the variables are split, in name
order, into parts of at most ``rows_per_part`` rows (a variable with more is
a part of its own) and ``variables_per_part`` variables, the rows are routed
to a file per part, and the parts are handed out one at a time, each sorted
and checked for duplicate and unsorted timestamps. The store writes a part
as a bucket before it loads the next.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..base import DataError, IngestError, existing_objects_frozen
from .naming import check_variable_name

__all__ = ["StagedRows", "read_source", "TIMESTAMP_COLUMNS"]

TIMESTAMP_COLUMNS = ("timestamp", "time", "date", "datetime")
CELLS_PER_BLOCK = 250_000  # text cells parsed at a time: a block's text is most of what an ingest holds
_AWARE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_NAN_TEXT = {"nan", "+nan", "-nan"}


_ROW = np.dtype([("code", "<i4"), ("timestamp", "<i8"), ("value", "<f8"), ("position", "<i8")])
ROUTE_ROWS = 1_048_576  # staged rows moved to their parts at a time


class StagedRows:
    """Validated long rows on disk, handed out a part at a time (see the module docstring); a context
    manager whose exit removes the staging files."""

    def __init__(self, name: str, directory: Path, names: list[str], counts: np.ndarray,
                 locate: Callable[[int], str], sort: bool) -> None:
        self.name = name
        self._directory = directory
        self._names = names  # by code (the order of first appearance)
        self._counts = counts  # rows per code
        self._locate = locate
        self._sort = sort

    def parts(self, rows_per_part: int, variables_per_part: int) -> Iterator[list[tuple[str, np.ndarray, np.ndarray]]]:
        """Each part's variables in name order, each with its timestamps (datetime64[ns]) and values, sorted.

        A duplicate or (without ``sort``) unsorted timestamp raises
        :class:`IngestError` when its part comes, so a caller writes nothing
        it cannot take back before every part has been handed out.
        """
        ranked = sorted(range(len(self._names)), key=self._names.__getitem__)
        names = [self._names[code] for code in ranked]  # in name order
        rank_of = np.empty(len(self._names), dtype=np.int32)
        rank_of[ranked] = np.arange(len(ranked), dtype=np.int32)
        part_of = np.empty(len(self._names), dtype=np.int32)
        part, rows, size = 0, 0, 0
        for code in ranked:
            count = int(self._counts[code])
            if size and (rows + count > rows_per_part or size == variables_per_part):
                part, rows, size = part + 1, 0, 0
            part_of[code], rows, size = part, rows + count, size + 1
        try:
            files = self._route(part_of, part + 1)
            for path in files:
                staged = np.fromfile(path, dtype=_ROW)
                path.unlink()
                yield self._in_order(staged, rank_of, names)
        except DataError as exc:
            raise IngestError(f"{self.name}: {exc}") from None
        except OSError as exc:
            raise _staging_error(self.name, self._directory, exc) from None

    def _route(self, part_of: np.ndarray, parts: int) -> list[Path]:
        """The staged rows split into a file per part (the staging file itself if there is one part)."""
        staging = self._directory / "rows"
        if parts == 1:
            return [staging]
        files = [self._directory / f"part-{i}" for i in range(parts)]
        handles = [open(path, "wb") for path in files]
        try:
            with open(staging, "rb") as source:
                while len(chunk := np.fromfile(source, dtype=_ROW, count=ROUTE_ROWS)):
                    owner = part_of[chunk["code"]]
                    order = np.argsort(owner, kind="stable")
                    bounds = np.searchsorted(owner[order], np.arange(parts + 1))
                    for i in np.flatnonzero(np.diff(bounds)):
                        chunk[order[bounds[i]:bounds[i + 1]]].tofile(handles[i])
        finally:
            for handle in handles:
                handle.close()
        staging.unlink()
        return files

    def _in_order(self, staged: np.ndarray, rank_of: np.ndarray,
                  names: list[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """One part's rows sorted by variable (in name order: ``rank_of`` each code, ``names`` by rank) then time,
        after refusing duplicate (variable, timestamp) pairs, and unsorted input unless ``sort``; each column is
        sorted by one index and let go."""
        codes, timestamps, positions = rank_of[staged["code"]], staged["timestamp"], staged["position"]
        by_time = np.lexsort((timestamps, codes))  # stable: ties keep the file's order
        i = _first_repeat(codes[by_time], timestamps[by_time], lambda ts: ts[1:] == ts[:-1])
        if i is not None:
            first, second = sorted(int(positions[by_time[j]]) for j in (i - 1, i))
            raise DataError(
                f"{self._locate(second)}: duplicate timestamp {pd.Timestamp(timestamps[by_time[i]])} for variable "
                f"{names[codes[by_time[i]]]!r} (also at {self._locate(first)})"
            )
        as_given = np.lexsort((positions, codes))
        i = _first_repeat(codes[as_given], timestamps[as_given], lambda ts: ts[1:] < ts[:-1])
        if i is not None and not self._sort:
            later, earlier = as_given[i], as_given[i - 1]
            raise DataError(
                f"{self._locate(int(positions[later]))}: variable {names[codes[later]]!r} is not sorted by "
                f"timestamp ({pd.Timestamp(timestamps[later])} after {pd.Timestamp(timestamps[earlier])}); "
                "sort it or pass --sort"
            )
        del as_given
        codes, values = codes[by_time], staged["value"][by_time]
        timestamps = timestamps[by_time].view("datetime64[ns]")
        del staged, positions, by_time
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        return [(names[codes[start]], timestamps[start:stop], values[start:stop])
                for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), len(codes)])]

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> "StagedRows":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _staging_error(name: str, directory: Path, exc: OSError) -> IngestError:
    return IngestError(f"{name}: cannot stage rows in {directory.parent} ({exc.strerror or exc})")


def read_source(source: str | Path | pd.DataFrame, *, sort: bool = False) -> StagedRows:
    """Read and validate ``source`` block by block into a staging file; with ``sort`` unsorted input is
    sorted instead of refused (see :meth:`StagedRows.parts`)."""
    if isinstance(source, pd.DataFrame):
        name, blocks, locate = "<frame>", iter([source.copy()]), _row_locator(0, "row")
    else:
        path = Path(source)
        name = str(path)
        blocks, locate = _read_file(path)
    directory = Path(tempfile.mkdtemp(prefix="recursive-training-ingest-"))
    try:
        # what this process held before is not the ingest's garbage: each collection below skips it
        with existing_objects_frozen(), open(directory / "rows", "wb") as staging:
            stager = _Stager(staging, locate)
            for raw in blocks:
                stager.add(raw)
                del raw
                stager.let_block_go()
        if not stager.seen:
            raise IngestError(f"{name}: no data rows")
        return StagedRows(name, directory, stager.names(), stager.counts, locate, sort)
    except BaseException as exc:
        shutil.rmtree(directory, ignore_errors=True)
        if isinstance(exc, DataError) and not isinstance(exc, IngestError):
            raise IngestError(f"{name}: {exc}") from None
        if isinstance(exc, OSError):  # the staging disk: full, or gone
            raise _staging_error(name, directory, exc) from None
        raise


class _Stager:
    """Validated blocks appended to the staging file as rows of numbers, each variable's name kept once."""

    def __init__(self, staging: BinaryIO, locate: Callable[[int], str]) -> None:
        self.seen = 0  # source rows read so far
        self.counts = np.zeros(0, dtype=np.int64)  # rows per code
        self._staging = staging
        self._locate = locate
        self._codes: dict[str, int] = {}  # name -> code, in the order of first appearance
        self._known = 0  # codes whose names are not a block's own strings (see let_block_go)
        self._first_timestamp: list[str] = []  # the file's first timestamp text, once known (see _parse_timestamps)

    def add(self, raw: pd.DataFrame) -> None:
        offset = self.seen
        long = _to_long(raw, lambda position: self._locate(position + offset), self._first_timestamp)
        names = pd.Categorical(long["variable"])
        codes = self._codes
        code_of = np.array([codes.setdefault(str(n), len(codes)) for n in names.categories], dtype=np.int32)
        rows = np.empty(len(long), dtype=_ROW)
        rows["code"] = code_of[names.codes] if len(long) else 0
        rows["timestamp"] = long["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        rows["value"] = long["value"].to_numpy(dtype=float)
        rows["position"] = long["position"].to_numpy(dtype=np.int64) + offset
        rows.tofile(self._staging)
        self.counts = np.pad(self.counts, (0, len(codes) - len(self.counts))) + np.bincount(rows["code"],
                                                                                             minlength=len(codes))
        self.seen += len(raw)

    def let_block_go(self) -> None:
        """Free what the block just added leaves behind, so memory does not grow with the file.

        pandas' string methods leave each column they touch in a reference
        cycle (the column and its cached ``.str`` accessor) that only a full
        collection frees: left to chance, 61 MiB of columns piled up over 2
        million rows. And a name first seen in the block is one of the block's
        strings, which keeps the block's small-object memory (CPython's
        arenas) from being freed: a copy made now, the block gone, lands
        among the earlier names.
        """
        gc.collect()
        if len(self._codes) > self._known:
            self._codes = {name.encode().decode() if code >= self._known else name: code
                           for name, code in self._codes.items()}
            self._known = len(self._codes)

    def names(self) -> list[str]:
        """The names by code."""
        return sorted(self._codes, key=self._codes.__getitem__)


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
    for name in pd.unique(variables):  # each name once, not each row
        try:
            check_variable_name(name)
        except DataError as exc:
            position = int(np.flatnonzero((variables == name).to_numpy())[0]) if isinstance(name, str) else \
                int(np.flatnonzero(variables.isna().to_numpy())[0])
            raise DataError(f"{locate(position)}: {exc}") from None
    values, present = _parse_values(raw[columns["value"]], locate, lambda position: "value")
    if not present.all():
        position = int(np.flatnonzero(~present)[0])
        raise DataError(f"{locate(position)}: missing value for variable {variables.iloc[position]!r}")
    return pd.DataFrame(
        {"variable": variables.astype(str).to_numpy(), "timestamp": timestamps, "value": values,
         "position": np.arange(len(raw))}
    )


def _wide_rows(raw, time_column, timestamps, locate) -> pd.DataFrame:
    """Every value column's present cells as long rows; the columns of one type are parsed together, as one
    column-major run of cells (parsing column by column cost a wide file most of its time)."""
    value_columns = [c for c in raw.columns if c != time_column]
    if not value_columns:
        raise DataError("no value columns next to the timestamp column")
    names = [check_variable_name(str(column).strip()) for column in value_columns]
    rows = len(raw)
    of_type: dict[object, list[int]] = {}
    for index, column in enumerate(value_columns):
        of_type.setdefault(raw[column].dtype, []).append(index)
    parts = []
    for indexes in of_type.values():
        cells = (raw[value_columns[indexes[0]]].reset_index(drop=True) if len(indexes) == 1  # as read
                 else pd.Series(raw[[value_columns[i] for i in indexes]].to_numpy().ravel(order="F")))
        values, present = _parse_values(cells, lambda position: locate(position % rows),
                                        lambda position: f"variable {names[indexes[position // rows]]!r}")
        parts.append((np.repeat(np.asarray(indexes, dtype=np.int32), rows)[present],
                      np.tile(timestamps, len(indexes))[present], values[present],
                      np.tile(np.arange(rows), len(indexes))[present]))
    codes, stamps, values, positions = (np.concatenate(column) for column in zip(*parts))
    return pd.DataFrame({"variable": pd.Categorical.from_codes(codes, names), "timestamp": stamps, "value": values,
                         "position": positions})


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


def _parse_values(column: pd.Series, locate, what: Callable[[int], str]) -> tuple[np.ndarray, np.ndarray]:
    """Floats and a mask of present cells; NaN text, infinity or other text are errors, named by ``locate``
    and ``what`` (the cell's line, and what it holds) at the first cell that has one."""
    if pd.api.types.is_bool_dtype(column.dtype):
        raise DataError(f"{what(0)} holds true/false, not numbers")
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
            raise DataError(f"{locate(position)}: {what(position)} {text.iloc[position]!r} is not a number")
        values = numbers
    nan = np.isnan(values) & present
    if nan.any():
        position = int(np.flatnonzero(nan)[0])
        raise DataError(f"{locate(position)}: {what(position)} is NaN")
    infinite = np.isinf(values)
    if infinite.any():
        position = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{locate(position)}: {what(position)} is infinite")
    return values, present


def _first_repeat(codes: np.ndarray, timestamps: np.ndarray, relation) -> int | None:
    """Index of the first row that stands in ``relation`` to the row before it, within a variable."""
    hits = (codes[1:] == codes[:-1]) & relation(timestamps)
    return int(np.flatnonzero(hits)[0]) + 1 if hits.any() else None
