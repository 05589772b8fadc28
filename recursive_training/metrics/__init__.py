"""Live metrics: collected without blocking in workers, persisted on the coordinator."""

from .async_metrics_collector import (
    METRICS_TOPIC,
    AsyncMetricsCollector,
    dask_event_sender,
)
from .metrics_store import MetricsStore

__all__ = ["AsyncMetricsCollector", "METRICS_TOPIC", "MetricsStore", "dask_event_sender"]
