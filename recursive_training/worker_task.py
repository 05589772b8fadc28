"""The work of one batch, free of Dask so it runs the same serially or on a worker.

Load each variable's window from the store, retrodict every model, score,
stream metrics, and return a :class:`BatchResult`. Nothing here has side
effects that could count twice if Dask runs the batch again.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any, Callable, Iterator

import numpy as np

from analytics import EvidenceBlock

from .base import InsufficientDataError, existing_objects_frozen, one_line, reuse_freed_memory
from .batching import TrainingBatch
from .config import TrainingConfig
from .data import reopened_store
from .memory import PeakMemoryMonitor
from .metrics import AsyncMetricsCollector
from .outcomes import BatchResult, VariableOutcome
from .retrodiction import ForecastModel, ModelSpec, RetrodictionSettings, WindowForecast, retrodict_window

__all__ = ["as_on_a_worker", "process_batch", "single_threaded_torch", "warm_up"]


def single_threaded_torch() -> None:
    """One torch thread per worker process: the workers already use every core."""
    import torch

    torch.set_num_threads(1)


def warm_up(settings: RetrodictionSettings) -> None:
    """Each used family's one-time costs (imports, lazy initialisation), once per family."""
    warmed = set()
    for spec in settings.models:
        if spec.entry.warm_up is not None and spec.family not in warmed:
            spec.entry.warm_up(spec.parameters)
            warmed.add(spec.family)


@contextlib.contextmanager
def as_on_a_worker(settings: RetrodictionSettings) -> Iterator[None]:
    """Torch models trained in the caller's process as on a worker: the same numbers at the same speed.

    One torch thread while the batches run (restored after), the
    workers' heap settings (:func:`~recursive_training.base.reuse_freed_memory`,
    kept for the rest of the process: glibc cannot go back to its adaptive
    defaults once they are set), and, as on a worker, what the process holds
    once torch is imported left out of garbage collections while the batches
    run (:func:`~recursive_training.base.existing_objects_frozen`).
    """
    if not settings.needs_torch:
        with existing_objects_frozen():
            yield
        return
    import torch

    reuse_freed_memory()

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with existing_objects_frozen():
            yield
    finally:
        torch.set_num_threads(before)


def _retrodict_one(variable: str, spec: ModelSpec, ts: np.ndarray, values: np.ndarray, batch: TrainingBatch,
                   config: TrainingConfig, metrics: AsyncMetricsCollector,
                   fitted: tuple[ForecastModel, float] | None = None) -> tuple[VariableOutcome,
                                                                                EvidenceBlock | None]:
    """One (variable, spec) of a batch: scored, skipped (too little data), failed, or scored by the fallback.

    A model that raises fails alone: the batch's other variables and models
    still count. With ``fallback_model`` its forecasts replace the failed
    model's in this window, as statsforecast's ``fallback_model`` does; the
    outcome says so, and the evidence is the fallback's own. ``fitted`` is the window's first model of
    ``spec`` already trained with the batch's others (batched_torch.py), and its share of that time.
    """
    settings = config.retrodiction
    window = (batch.window_start.to_datetime64(), batch.window_end.to_datetime64())
    span = (batch.start_time.to_datetime64(), batch.end_time.to_datetime64())
    previous = None if batch.previous_window_start is None else batch.previous_window_start.to_datetime64()

    def run(model: ModelSpec) -> WindowForecast:
        return retrodict_window(ts, values, *window, model, settings, span=span, previous_window_start=previous,
                                fitted=fitted[0] if fitted is not None and model is spec else None)

    fit_started, used, error = time.perf_counter() - (fitted[1] if fitted else 0.0), spec, None
    try:
        forecast = run(spec)
    except InsufficientDataError as exc:
        return VariableOutcome(variable, spec.id, "skipped", reason=str(exc)), None
    except Exception as exc:  # a model that raises fails alone
        error, used = one_line(exc), settings.fallback
        if used is None:
            return VariableOutcome(variable, spec.id, "failed", reason=error), None
        fit_started = time.perf_counter()
        try:
            forecast = run(used)
        except Exception as fallback_exc:
            return VariableOutcome(variable, spec.id, "failed",
                                   reason=f"{error}; fallback {used.id}: {one_line(fallback_exc)}"), None
    seconds = time.perf_counter() - fit_started
    score = forecast.score(settings.tolerance)
    status, fallback = ("scored", None) if used is spec else ("fallback", used.id)
    outcome = VariableOutcome(variable, spec.id, status, score=score, reason=error, fit_seconds=seconds,
                              fallback=fallback)
    block = EvidenceBlock(
        config.trust_key(variable, used.id), batch.window_index,
        origins=forecast.origins.astype("datetime64[ns]").view(np.int64),
        success=forecast.successes(settings.tolerance), counted=forecast.counted,
        targets=forecast.target_times.astype("datetime64[ns]").view(np.int64),
        errors=forecast.forecasts - forecast.actuals)
    metrics.submit_record(variable, used.id, {**{name: value for name, value in score.to_dict().items()
                                                 if value is not None}, "fit_seconds": seconds})
    metrics.submit_many(variable, used.id, "origin_mae",
                        np.abs(forecast.forecasts - forecast.actuals).mean(axis=1).tolist())
    return outcome, block


def _fit_mlps_together(loaded: list[tuple[str, np.ndarray, np.ndarray]], specs: list[ModelSpec],
                       batch: TrainingBatch, settings: RetrodictionSettings) -> dict[tuple[str, str], Any]:
    """The batch's MLPs of this window trained as one (batched_torch.py), so the per-model overhead of
    small torch models is paid once; if that fails, each is fitted alone and reports its own error."""
    if not settings.train_together or not any(spec.family == "mlp" for spec in specs):
        return {}
    from .retrodiction.batched_torch import fit_window_mlps

    try:
        return fit_window_mlps(loaded, specs, batch.window_start.to_datetime64(), settings)
    except Exception:  # each model is then fitted alone, and reports its own error
        return {}


def process_batch(
    batch: TrainingBatch, config: TrainingConfig, send_metrics: Callable[[dict], None],
    *, worker: str | None = None,
) -> BatchResult:
    """Retrodict every (variable, model) of ``batch``; see the module docstring."""
    started = time.perf_counter()
    settings = config.retrodiction
    specs = [s for s in settings.models if batch.models is None or s.id in batch.models]
    store = reopened_store(config.store_location, config.store_kind)
    # With step > 1 a fit-free model needs the previous window's first origin to know its phase.
    reach_back = batch.previous_window_start if settings.step > 1 and any(s.entry.fit_free for s in specs) else None
    load_from, before = reach_back or batch.window_start, settings.lookback
    if settings.lookback_duration is not None:  # a duration: load from that far before the window
        load_from, before = min(load_from, batch.window_start - settings.lookback_duration), 0
    outcomes: list[VariableOutcome] = []
    evidence: list[EvidenceBlock] = []
    metrics = AsyncMetricsCollector(send_metrics, run_id=config.resolved_run_id(), batch_id=batch.batch_id)
    with PeakMemoryMonitor() as memory:
        try:
            windows = store.load_windows(batch.variables, load_from, batch.window_end, before=before,
                                         after=settings.horizon)  # each bucket file opened once
            loaded = [(variable, series.index.to_numpy(), series.to_numpy()) for variable, series in windows.items()]
            together = _fit_mlps_together(loaded, specs, batch, settings)
            for variable, ts, values in loaded:
                for spec in specs:
                    outcome, block = _retrodict_one(variable, spec, ts, values, batch, config, metrics,
                                                    together.get((variable, spec.id)))
                    outcomes.append(outcome)
                    if block is not None:
                        evidence.append(block)
        finally:
            metrics.close()
    return BatchResult(
        batch_id=batch.batch_id,
        start=batch.start_time.isoformat(),
        end=batch.end_time.isoformat(),
        window_index=batch.window_index,
        variables=batch.variables,
        outcomes=tuple(outcomes),
        evidence=tuple(evidence),
        metrics_sent=metrics.sent,
        metrics_error=metrics.error,
        processing_time=time.perf_counter() - started,
        peak_memory_mib=memory.peak_mib,
        memory_increase_mib=memory.increase_mib,
        worker=worker or socket.gethostname(),
    ).encoded()
