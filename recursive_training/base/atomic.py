"""Files that are either wholly there or not at all, whatever happens mid-write."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["atomic_write_bytes"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a unique temporary file beside ``path``, fsync it, rename it over ``path``,
    and fsync the directory, so a crash or a full disk leaves the old file or the new one, never half.

    The temporary name is unique per call, so two writers never share it; the
    last rename wins. A failed write removes its temporary file.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        directory = os.open(target.parent, os.O_RDONLY)
    except OSError:  # a directory that cannot be opened (some platforms): the rename itself stands
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
