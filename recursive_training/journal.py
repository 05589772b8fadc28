"""The results journal: an append-only JSON-lines file, fsynced per record.

Outcomes are written here before anything else uses them, so a killed run
loses nothing it had received. A last line cut short by a crash is detected
and ignored; damage anywhere else is an error, never silently skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import DataError

__all__ = ["ResultsJournal"]


class ResultsJournal:
    """One JSON object per line: {"batch_id", "status", ...}."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict[str, Any]]:
        """All complete records; a torn final line is dropped and cut from the file."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        records = []
        for number, line in enumerate(complete, start=1):
            try:
                records.append(json.loads(line))
            except ValueError:  # each record is written with its newline last, so only the tail can tear
                raise DataError(f"results journal {self.path}: line {number} is damaged") from None
        if tail:
            self._truncate(len(raw) - len(tail))
        return records

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as handle:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
