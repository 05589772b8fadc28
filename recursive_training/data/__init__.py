"""The Parquet-backed data store in three variants; no Dask here."""

from .data_store import IngestReport, RecursiveDataStore, VariableInfo
from .ingest import TIMESTAMP_COLUMNS, read_source
from .location import StoreLocation
from .naming import check_variable_name
from .optimized_data_store import PROCESS_CACHE, OptimizedDataStore, SegmentCache
from .store_kinds import STORE_KINDS, open_store, reopened_store
from .streaming_data_store import StreamingDataStore

__all__ = [
    "IngestReport",
    "OptimizedDataStore",
    "PROCESS_CACHE",
    "RecursiveDataStore",
    "STORE_KINDS",
    "SegmentCache",
    "StoreLocation",
    "StreamingDataStore",
    "TIMESTAMP_COLUMNS",
    "VariableInfo",
    "check_variable_name",
    "open_store",
    "read_source",
    "reopened_store",
]
