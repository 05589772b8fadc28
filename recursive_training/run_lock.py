"""One coordinator at a time per run directory, so two never append to one journal.

An advisory ``flock`` on ``RUN_DIR/.lock``: the kernel drops it when the
process ends however it ends (SIGKILL included), so a crashed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .base import ConfigError, RetrodictionError

__all__ = ["RunLock"]


class RunLock:
    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.path = Path(run_dir) / ".lock"
        self.run_id = run_id
        self._handle: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RetrodictionError(f"run directory {self.path.parent}: cannot create the lock ({exc.strerror})") \
                from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 64).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise ConfigError(f"run {self.run_id!r} is in use by another coordinator (pid {holder}); wait for it "
                              "to finish, or choose another --run-id") from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing drops the lock
            self._handle = None
