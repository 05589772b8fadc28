"""Pick a store variant by name, as configuration and workers do."""

from __future__ import annotations

import os

from ..base import ConfigError
from .data_store import RecursiveDataStore
from .location import StoreLocation
from .optimized_data_store import OptimizedDataStore
from .streaming_data_store import StreamingDataStore

__all__ = ["STORE_KINDS", "open_store"]

STORE_KINDS: dict[str, type[RecursiveDataStore]] = {
    "base": RecursiveDataStore,
    "optimized": OptimizedDataStore,
    "streaming": StreamingDataStore,
}


def open_store(root: str | os.PathLike[str] | StoreLocation, kind: str = "optimized") -> RecursiveDataStore:
    try:
        cls = STORE_KINDS[kind]
    except KeyError:
        raise ConfigError(f"option 'store_kind': unknown {kind!r}; choose from {', '.join(STORE_KINDS)}") from None
    return cls(root)
