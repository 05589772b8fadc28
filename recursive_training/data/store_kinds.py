"""Pick a store variant by name, as configuration and workers do."""

from __future__ import annotations

import os
import threading

from ..base import ConfigError, RetrodictionError
from .data_store import CATALOG_NAME, RecursiveDataStore
from .location import StoreLocation
from .optimized_data_store import OptimizedDataStore
from .streaming_data_store import StreamingDataStore

__all__ = ["STORE_KINDS", "open_store", "reopened_store"]

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


_REOPENED: dict[tuple, tuple[tuple, RecursiveDataStore]] = {}  # this process's stores, with their catalog's identity
_REOPENING = threading.Lock()


def reopened_store(root: str | os.PathLike[str] | StoreLocation, kind: str = "optimized") -> RecursiveDataStore:
    """The store as this process last opened it, while its catalog is unchanged.

    A worker serving many batches reads the catalog once instead of once per
    batch; one stat (a HEAD on object storage) tells whether an ingest has
    published a new catalog since, and then the store is opened afresh.
    """
    location = StoreLocation.of(root)
    key = (*location.key, kind)
    try:
        identity = location.file_key(CATALOG_NAME)
    except (OSError, RetrodictionError):  # no catalog, or none reachable: open_store says which, in one line
        return open_store(location, kind)
    with _REOPENING:
        cached = _REOPENED.get(key)
    if cached is not None and cached[0] == identity:
        return cached[1]
    store = open_store(location, kind)
    with _REOPENING:
        _REOPENED[key] = (identity, store)
    return store
