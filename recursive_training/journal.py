"""The results journal: an append-only JSON-lines file, fsynced per group of records.

Outcomes are written here before anything else uses them, so a killed run
loses nothing it had received. A last line cut short by a crash is detected
and ignored; damage anywhere else is an error, never silently skipped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO, TypeVar

from .base import DataError, RetrodictionError

__all__ = ["ResultsJournal", "json_line"]

T = TypeVar("T")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return "not valid JSON" if isinstance(exc, json.JSONDecodeError) else (
        f"missing {text}" if isinstance(exc, KeyError) else text or type(exc).__name__)


def json_line(record: dict[str, Any]) -> str:
    """``record`` as the compact JSON of one journal line (no NaN: it is not JSON)."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False)


class ResultsJournal:
    """One JSON object per line; what the objects mean is :mod:`.records`' business."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.dropped: list[int] = []  # line numbers the last repair dropped
        self.saved_copy: Path | None = None
        self._handle: TextIO | None = None  # kept open between appends: an open per group cost the
        # coordinator of a thousand workers more than the writing (bench/bench_coordinator.py)

    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def append(self, record: dict[str, Any] | str) -> None:
        self.append_many([record])

    def append_many(self, records: Sequence[dict[str, Any] | str]) -> None:
        """Write ``records`` (objects, or their :func:`json_line` made elsewhere) and fsync once: when this
        returns, all of them are durable.

        Outcomes that arrive together are journalled together, so a busy
        cluster pays one fsync per group instead of one per batch; a crash
        mid-write tears at most the last line, which :meth:`read` drops.
        """
        text = "".join((record if isinstance(record, str) else json_line(record)) + "\n" for record in records)
        try:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a", encoding="utf-8")
            self._handle.write(text)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:  # a full disk, a read-only directory: the first failure, named
            self.close()  # the next append opens afresh
            raise RetrodictionError(f"results journal {self.path}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Let go of the file (appending opens it again); reading and repairing close it first."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.close()
            except OSError:
                pass  # everything written was fsynced already; a failing close loses nothing

    def read(self, parse: Callable[[dict[str, Any]], T] = lambda record: record,  # type: ignore[assignment]
             *, repair: bool = False) -> list[T]:
        """Every complete record, through ``parse``; a torn final line is dropped and cut from the file.

        A line that is not JSON, or that ``parse`` rejects (a record of the
        wrong shape, a damaged result), is an error naming the file and line;
        with ``repair`` such lines are dropped instead, after the journal is
        copied aside, so nobody has to edit it by hand.
        """
        self.close()
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        records, damaged = [], []
        for number, line in enumerate(complete, start=1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                records.append(parse(record))
            except DataError as exc:  # a record this version cannot read: not damage, never repaired away
                raise DataError(f"results journal {self.path}: line {number}: {exc}") from None
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if not repair:  # each record is written with its newline last, so only the tail can tear
                    raise DataError(f"results journal {self.path}: line {number} is damaged ({_reason(exc)}); "
                                    "--resume --repair drops damaged lines after saving a copy") from None
                damaged.append(number)
        if damaged:
            self._drop_lines(raw, damaged)
        elif tail:
            self._truncate(len(raw) - len(tail))
        self.dropped = damaged
        return records

    def _drop_lines(self, raw: bytes, numbers: list[int]) -> None:
        """Keep a copy of the journal as it was, then replace it by its good lines."""
        copy = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        kept = [line for number, line in enumerate(raw.split(b"\n")[:-1], start=1) if number not in set(numbers)]
        try:
            copy.write_bytes(raw)
            tmp = self.path.with_name(f".{self.path.name}.repair")
            with open(tmp, "wb") as handle:
                handle.write(b"".join(line + b"\n" for line in kept))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            raise RetrodictionError(f"results journal {self.path}: cannot repair ({exc.strerror or exc})") from None
        self.saved_copy = copy

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as handle:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
