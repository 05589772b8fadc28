"""Each done batch's result, kept on disk from when it arrives until the results file is written.

A coordinator of a thousand workers cannot hold 100,000 batch results in
memory until the end of a run. It appends each done batch's result without
its evidence (JSON text, as its worker encoded it) and the attempts it took
to an unnamed temporary file in the run directory, which the operating
system removes however the process ends, and keeps nothing of it; the
results file and the report are written from it in plan order. Nothing
here needs to survive a crash: the journal holds every result.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import IO, Callable

__all__ = ["OutcomeSpill"]

SPILL_BUFFER = 1 << 20  # bytes


class OutcomeSpill:
    """Append-only (attempts, result text) by batch id; :meth:`lookup` reads them back."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._file: IO[bytes] | None = None

    def add(self, batch_id: str, attempts: int, result_text: str) -> None:
        """Keep ``result_text`` (one line of JSON) for ``batch_id``; a later one for the same id replaces it."""
        if self._file is None:
            self._directory.mkdir(parents=True, exist_ok=True)
            # a large buffer: each write to the file lets go of the GIL, and the writer threads of trust
            # and metrics then keep the result loop waiting for it (bench/bench_coordinator.py)
            self._file = tempfile.TemporaryFile(dir=self._directory, prefix=".outcomes-", buffering=SPILL_BUFFER)
        self._file.write(f"{json.dumps(batch_id)}\t{attempts}\t{result_text}\n".encode())

    def lookup(self) -> Callable[[str], tuple[int, str]]:
        """Each kept batch's attempts and result text by id (KeyError if none); the index, an offset per
        batch, lives as long as the lookup does."""
        handle = self._file
        if handle is None:
            return lambda batch_id: _missing(batch_id)
        handle.flush()
        handle.seek(0)
        where: dict[str, tuple[int, int]] = {}
        offset = 0
        for line in handle:
            tab = line.index(b"\t")
            where[json.loads(line[:tab])] = (offset + tab + 1, len(line) - tab - 2)
            offset += len(line)

        def entry(batch_id: str) -> tuple[int, str]:
            if batch_id not in where:
                _missing(batch_id)
            start, length = where[batch_id]
            handle.seek(start)
            attempts, text = handle.read(length).decode().split("\t", 1)
            handle.seek(0, 2)  # later entries append
            return int(attempts), text

        handle.seek(0, 2)
        return entry

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _missing(batch_id: str) -> tuple[int, str]:
    raise KeyError(f"no result of batch {batch_id} was kept")
