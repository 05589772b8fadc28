"""Parallel retrodiction training on Dask: which forecasts deserve trust?

The public API is loaded lazily, so importing a light submodule (base,
data, retrodiction) does not pull in Dask.
"""

from __future__ import annotations

from .base.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "TrainingConfig": ".config",
    "load_config_file": ".config_file",
    "TrainingBatch": ".batching",
    "prepare_training_batches": ".batching",
    "ParallelTrainingCoordinator": ".parallel_trainer",
    "run_parallel_retrodiction_training": ".parallel_trainer",
    "RunSummary": ".records",
    "RunResults": ".records",
    "BatchOutcome": ".records",
    "BatchStatus": ".records",
    "read_results": ".records",
    "RetrodictionSettings": ".retrodiction",
    "RecursiveDataStore": ".data",
    "OptimizedDataStore": ".data",
    "StreamingDataStore": ".data",
    "RetrodictionError": ".base",
    "ConfigError": ".base",
    "DataError": ".base",
    "IngestError": ".base",
    "ClusterError": ".base",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
