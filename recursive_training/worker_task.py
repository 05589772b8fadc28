"""The work of one batch, free of Dask so it runs the same serially or on a worker.

Load each variable's window from the store, retrodict every model, score,
stream metrics, and return a :class:`BatchResult`. Nothing here has side
effects that could count twice if Dask runs the batch again.
"""

from __future__ import annotations

import socket
import time
from typing import Callable

import numpy as np
import pandas as pd

from analytics import TrustUpdate

from .batching import TrainingBatch
from .config import TrainingConfig
from .data import open_store
from .errors import InsufficientDataError
from .memory import PeakMemoryMonitor
from .metrics import AsyncMetricsCollector
from .outcomes import BatchResult, VariableOutcome
from .retrodiction import retrodict_window
from .retrodiction.models import TORCH_MODELS

__all__ = ["process_batch", "days_since_epoch", "single_threaded_torch"]


def days_since_epoch(moment: pd.Timestamp) -> float:
    return (moment - pd.Timestamp(0)) / pd.Timedelta(days=1)


def single_threaded_torch() -> None:
    """One torch thread per worker process: the workers already use every core."""
    import torch

    torch.set_num_threads(1)


def process_batch(
    batch: TrainingBatch, config: TrainingConfig, send_metrics: Callable[[dict], None],
    *, worker: str | None = None,
) -> BatchResult:
    """Retrodict every (variable, model) of ``batch``; see the module docstring."""
    started = time.perf_counter()
    settings = config.retrodiction
    if TORCH_MODELS.intersection(settings.models):
        single_threaded_torch()
    store = open_store(config.store_path, config.store_kind)
    update_id = f"{batch.batch_id}:{config.evidence_digest()}"
    start64, end64 = batch.start_time.to_datetime64(), batch.end_time.to_datetime64()
    outcomes: list[VariableOutcome] = []
    updates: list[TrustUpdate] = []
    metrics = AsyncMetricsCollector(send_metrics, run_id=config.resolved_run_id(), batch_id=batch.batch_id)
    with PeakMemoryMonitor() as memory:
        try:
            for variable in batch.variables:
                series = store.load_window(variable, batch.start_time, batch.end_time,
                                           before=settings.lookback, after=settings.horizon)
                ts, values = series.index.to_numpy(), series.to_numpy()
                for model in settings.models:
                    fit_started = time.perf_counter()
                    try:
                        forecast = retrodict_window(ts, values, start64, end64, model, settings)
                    except InsufficientDataError as exc:
                        outcomes.append(VariableOutcome(variable, model, "skipped", reason=str(exc)))
                        continue
                    seconds = time.perf_counter() - fit_started
                    score = forecast.score(settings.tolerance)
                    outcomes.append(VariableOutcome(variable, model, "scored", score=score, fit_seconds=seconds))
                    updates.append(TrustUpdate(update_id, variable, model, score.successes, score.failures,
                                               days_since_epoch(batch.end_time)))
                    for name, value in score.to_dict().items():
                        if value is not None:
                            metrics.submit(variable, model, name, value)
                    metrics.submit(variable, model, "fit_seconds", seconds)
                    metrics.submit_many(variable, model, "origin_mae",
                                        np.abs(forecast.forecasts - forecast.actuals).mean(axis=1).tolist())
        finally:
            metrics.close()
    return BatchResult(
        batch_id=batch.batch_id,
        start=batch.start_time.isoformat(),
        end=batch.end_time.isoformat(),
        variables=batch.variables,
        outcomes=tuple(outcomes),
        trust_updates=tuple(updates),
        metrics_sent=metrics.sent,
        metrics_error=metrics.error,
        processing_time=time.perf_counter() - started,
        peak_memory_mib=memory.peak_mib,
        memory_increase_mib=memory.increase_mib,
        worker=worker or socket.gethostname(),
    )
