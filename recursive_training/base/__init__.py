"""The layer below everything: errors, validation, time parsing, SQLite opening.

``analytics`` and every part of ``recursive_training`` import from here; this
package imports nothing of the project (tests/test_layout.py checks it).
"""

from .allocation import WORKER_MALLOC_MMAP_BYTES, WORKER_MALLOC_TRIM_BYTES, return_large_allocations, reuse_freed_memory
from .atomic import atomic_write_bytes, atomic_write_files, publish_file
from .background import BackgroundStart
from .collector import existing_objects_frozen, freeze_existing_objects
from .errors import (
    ArtifactIntegrityError,
    BatchTimeoutError,
    ClusterError,
    ConfigError,
    DataError,
    IngestError,
    InsufficientDataError,
    ModelError,
    RegistryError,
    RetrodictionError,
    StoreCorruptError,
    TrustError,
    UnknownForecastError,
    UnknownModelError,
    UnknownRunError,
    UnknownVariableError,
    one_line,
)
from .machine import AUTO, available_cores
from .sqlite_db import open_database
from .timeparse import to_utc_naive
from .urls import is_url, store_root
from .validation import is_plain_name, require_float, require_int, resource_amounts

__all__ = [
    "AUTO",
    "BackgroundStart",
    "ArtifactIntegrityError",
    "BatchTimeoutError",
    "ClusterError",
    "ConfigError",
    "DataError",
    "IngestError",
    "InsufficientDataError",
    "ModelError",
    "RegistryError",
    "RetrodictionError",
    "StoreCorruptError",
    "TrustError",
    "UnknownForecastError",
    "UnknownModelError",
    "UnknownRunError",
    "UnknownVariableError",
    "atomic_write_bytes",
    "atomic_write_files",
    "existing_objects_frozen",
    "freeze_existing_objects",
    "publish_file",
    "return_large_allocations",
    "reuse_freed_memory",
    "WORKER_MALLOC_MMAP_BYTES",
    "WORKER_MALLOC_TRIM_BYTES",
    "available_cores",
    "is_plain_name",
    "is_url",
    "one_line",
    "open_database",
    "require_float",
    "require_int",
    "resource_amounts",
    "store_root",
    "to_utc_naive",
]
