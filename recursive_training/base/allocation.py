"""How the C library hands out large blocks: returned to the system when freed, so memory stays flat."""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["return_large_allocations"]

LARGE_ALLOCATION_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def return_large_allocations() -> None:
    """Make glibc give every allocation of 1 MiB or more pages of its own, returned to the system when freed.

    glibc raises its mmap threshold each time a large block is freed, so that
    later large arrays come from the heap, where freeing them leaves holes the
    process keeps: an ingest's resident memory then grew with the number of
    parts it sorted (bench/bench_ingest.py). A fixed threshold (what the
    workers get through MALLOC_MMAP_THRESHOLD_, see fork_server.py) keeps it
    flat. For this whole process; nothing where the C library is not glibc.
    """
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES)
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc
        pass
