"""Files that are either wholly there or not at all, whatever happens mid-write."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["atomic_write_bytes", "atomic_write_files", "publish_file"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or pieces written one by one so that a large file need not be held whole)
    to a unique temporary file beside ``path``, fsync it, rename it over ``path``,
    and fsync the directory, so a crash or a full disk leaves the old file or the new one, never half.

    The temporary name is unique per call, so two writers never share it; the
    last rename wins. A failed write removes its temporary file.
    """
    atomic_write_files({Path(path): data})


def atomic_write_files(files: Mapping[Path, bytes | Iterable[bytes]]) -> None:
    """:func:`atomic_write_bytes` for many files at once, each still whole or absent, with one fsync
    per directory instead of one per file (the directory's cost dominates small files)."""
    directories: set[Path] = set()
    for target, data in files.items():
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with open(tmp, "wb") as handle:
                if isinstance(data, bytes):
                    handle.write(data)
                else:
                    handle.writelines(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        directories.add(target.parent)
    for parent in directories:
        _fsync_directory(parent)


def publish_file(temporary: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Rename a finished file written elsewhere (say by pyarrow) over ``target``, its data and the rename made
    durable first and after, as :func:`atomic_write_bytes` does for the bytes it writes."""
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    _fsync_directory(Path(target).parent)


def _fsync_directory(parent: Path) -> None:
    try:
        directory = os.open(parent, os.O_RDONLY)
    except OSError:  # a directory that cannot be opened (some platforms): the rename itself stands
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
