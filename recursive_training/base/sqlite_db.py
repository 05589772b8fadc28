"""Open the product's SQLite files the same way everywhere: WAL, shared across threads."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import RetrodictionError

__all__ = ["open_database"]


def open_database(path: str | os.PathLike[str] | None, schema: str, *, what: str,
                  error: type[RetrodictionError] = RetrodictionError, durable: bool = True,
                  timeout: float = 5.0) -> sqlite3.Connection:
    """Create or open ``path`` (None: in memory) with ``schema``; ``what`` names it in errors.

    ``durable=False`` skips the fsync at each commit (WAL still keeps the
    file consistent), for data that is a live view rather than a record.
    ``timeout`` is how long a writer waits for another connection's lock.
    """
    target = ":memory:" if path is None else str(path)
    try:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(target, check_same_thread=False, timeout=timeout)
        db.execute("PRAGMA journal_mode=WAL")
        if not durable:
            db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
    except (sqlite3.Error, OSError) as exc:
        raise error(f"{what} {target}: {exc}") from None
    return db
