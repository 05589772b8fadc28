"""How the C library hands out large blocks: returned to the system when freed, so memory stays flat."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["WORKER_MALLOC_MMAP_BYTES", "WORKER_MALLOC_TRIM_BYTES", "reuse_freed_memory",
           "return_large_allocations"]

LARGE_ALLOCATION_BYTES = 1 << 20
# Workers trim their heap above 64 MiB instead of Dask's 64 KiB: the churn of giving memory back and
# faulting it in again cost about 6% of each batch's CPU in torch's training loop (see cluster.py).
WORKER_MALLOC_TRIM_BYTES = 64 * 2**20
# Setting the trim threshold turns off glibc's adaptive mmap threshold, so every allocation over 128 KiB
# would be a fresh mmap, page-faulted in and unmapped again: MLPs trained together (megabytes per epoch)
# ran 2-3x slower on workers than in-process. 32 MiB is glibc's largest mmap threshold on 64-bit.
WORKER_MALLOC_MMAP_BYTES = 32 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def return_large_allocations() -> None:
    """Make glibc give every allocation of 1 MiB or more pages of its own, returned to the system when freed.

    glibc raises its mmap threshold each time a large block is freed, so that
    later large arrays come from the heap, where freeing them leaves holes the
    process keeps: an ingest's resident memory then grew with the number of
    parts it sorted (bench/bench_ingest.py). A fixed threshold (what the
    workers get through MALLOC_MMAP_THRESHOLD_, see fork_server.py) keeps it
    flat. For this whole process; nothing where the C library is not glibc.
    """
    _mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES)


def reuse_freed_memory() -> None:
    """Give this process the heap settings of a worker (``WORKER_MALLOC_*``), for torch training here.

    With glibc's defaults the heap's top is handed back whenever more than
    128 KiB of it is free, and a loop that allocates and frees megabyte
    tensors every epoch faults the same pages in again and again: MLPs
    trained together ran 1.5x slower in-process than on a worker. For this
    whole process, as on a worker; nothing where the C library is not glibc.
    """
    _mallopt(_M_TRIM_THRESHOLD, WORKER_MALLOC_TRIM_BYTES)
    _mallopt(_M_MMAP_THRESHOLD, WORKER_MALLOC_MMAP_BYTES)


def _mallopt(parameter: int, value: int) -> None:
    try:
        _c_library().mallopt(parameter, value)
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc
        pass


@functools.cache
def _c_library() -> ctypes.CDLL:
    """The C library, found once: ``find_library`` asks ldconfig in a subprocess (1.4 ms or more a call)."""
    return ctypes.CDLL(ctypes.util.find_library("c"))
