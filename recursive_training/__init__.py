"""Parallel retrodiction training on Dask: which forecasts deserve trust?

The public API is loaded lazily, so importing a light submodule (base,
data, retrodiction) does not pull in Dask.
"""

from __future__ import annotations

from .base.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {  # module: the names it gives the package
    ".config": ("TrainingConfig",),
    ".config_file": ("load_config_file",),
    ".batching": ("TrainingBatch", "prepare_training_batches",),
    ".parallel_trainer": ("ParallelTrainingCoordinator", "run_parallel_retrodiction_training",),
    ".records": ("RunSummary", "RunResults", "BatchOutcome", "BatchStatus", "read_results",),
    ".retrodiction": ("RetrodictionSettings",),
    ".data": ("RecursiveDataStore", "OptimizedDataStore", "StreamingDataStore",),
    ".base": ("RetrodictionError", "ConfigError", "DataError", "IngestError", "ClusterError",),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
