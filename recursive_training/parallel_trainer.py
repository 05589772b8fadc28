"""Run retrodiction batches in parallel on Dask and turn their outcomes into trust.

The coordinator owns everything stateful: the cluster connection, the results
journal, the trust buffer and tracker, and the metrics store. Workers receive
only a :class:`TrainingBatch` and a :class:`TrainingConfig`, and read their
data from the store by path.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import queue
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import pandas as pd

from analytics import OptimizedTrustTracker, TrustEstimate, TrustKey, TrustUpdateBuffer

from .base import (
    BatchTimeoutError,
    ConfigError,
    DataError,
    RetrodictionError,
    one_line,
    require_float,
)
from .batching import TrainingBatch
from .cluster import connect, disconnect, main_script_hidden, task_slots
from .config import TrainingConfig
from .data import VariableInfo, open_store
from .journal import ResultsJournal
from .metrics import METRICS_TOPIC, MetricsStore, dask_event_sender
from .original_api import options_from_original_config, progress_reporter
from .outcomes import BatchResult
from .planning import largest_first, plan_batches, small_batch_warning
from .run_lock import RunLock
from .summary import summarise
from .worker_task import process_batch, single_threaded_torch, torch_threads_for

__all__ = [
    "ParallelTrainingCoordinator",
    "ProgressCallback",
    "_dask_process_batch_task",
    "run_parallel_retrodiction_training",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, Optional[TrainingBatch]], None]
"""Called as (batches done, batches in total, the batch just finished or None at the start).

A callback that takes one argument gets the original tool's progress dict
instead (see :func:`recursive_training.original_api.progress_reporter`).
"""

METRICS_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.2  # how soon a stop request or a batch timeout is acted on; results wake the loop at once
ATTEMPTS_TOPIC = "retrodiction-attempts"


def _dask_process_batch_task(batch: TrainingBatch, config: TrainingConfig) -> BatchResult:
    """The task Dask runs for each batch: top level, so it pickles by reference.

    It first announces the attempt, so the coordinator can count retries and
    time a batch from when it really started, not from when it was queued.
    """
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(ATTEMPTS_TOPIC, {"run_id": config.resolved_run_id(), "batch_id": batch.batch_id,
                                      "worker": worker.address})
    if any(spec.entry.needs_torch for spec in config.retrodiction.models):
        single_threaded_torch()  # a worker the preparation plugin has not reached yet
    return process_batch(batch, config, dask_event_sender(METRICS_TOPIC), worker=worker.address)


class _AttemptLog:
    """Attempts per batch, fed from the attempts topic on the client's event loop."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.counts: dict[str, int] = {}
        self.running: dict[str, tuple[float, str]] = {}  # batch id -> (monotonic start, worker)
        self._lock = threading.Lock()

    def __call__(self, event: tuple[float, dict]) -> None:
        message = event[1]
        if message.get("run_id") != self.run_id:
            return
        with self._lock:
            self.counts[message["batch_id"]] = self.counts.get(message["batch_id"], 0) + 1
            self.running[message["batch_id"]] = (time.monotonic(), message["worker"])

    def started(self, batch_id: str) -> tuple[float, str] | None:
        with self._lock:
            return self.running.get(batch_id)


class ParallelTrainingCoordinator:
    """Slice, submit, collect, journal, and apply trust for one run."""

    def __init__(
        self,
        config: TrainingConfig | Mapping[str, Any] | None = None,
        max_workers: int | None = None,
        dask_dashboard_port: int | None = None,
        scheduler_address: str | None = None,
        *,
        client: Any = None,
    ) -> None:
        """``config`` is a :class:`TrainingConfig`, or the original tool's dict
        (``{"data_store_config": {"base_path": STORE}, ...}``; see original_api.py).
        ``client`` is an existing Dask client to run on (any cluster: local,
        remote, dask-jobqueue); it is left open at the end."""
        if not isinstance(config, TrainingConfig):
            config = TrainingConfig.from_mapping(options_from_original_config(config))
        overrides = {
            "workers": max_workers,
            "dashboard_port": dask_dashboard_port,
            "scheduler_address": scheduler_address,
        }
        self._configure(dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None}))
        self.batches: list[TrainingBatch] = []
        self.results: dict[str, BatchResult] = {}
        self.resumed: set[str] = set()  # ids of results read back from the journal
        self.dashboard_link: str | None = None
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self._infos: dict[str, VariableInfo] = {}
        self._typical_origins = 0.0
        self.trust: list[TrustEstimate] = []
        self.metrics_stored = 0
        self.metrics_error: str | None = None
        self.scheduler_lost: str | None = None
        self.elapsed_seconds = 0.0
        self._given_client = client
        self._client: Any = None
        self._cluster: Any = None
        self._hidden_script: Any = None
        self._done_units: set[tuple[int, str, str, str, str]] = set()
        self.task_slots = self.config.workers  # batches at a time, as planned; the real count once connected
        self._futures: dict[Any, TrainingBatch] = {}
        self._finished: queue.SimpleQueue = queue.SimpleQueue()  # futures as they finish; None only wakes
        self._stopping = threading.Event()
        self._buffer: TrustUpdateBuffer | None = None

    def _configure(self, config: TrainingConfig) -> None:
        """Take ``config``; the run id, journal and attempt log follow from it."""
        self.config = config
        self.run_id = config.resolved_run_id()
        self._journal = ResultsJournal(config.run_dir / "journal.jsonl")
        self.attempts = _AttemptLog(self.run_id)

    @property
    def client(self) -> Any:
        """The Dask client while a run is connected, else None."""
        return self._client

    # planning ----------------------------------------------------------------
    def prepare_training_batches(self, variables: Sequence[str] | None = None, start_time: object = None,
                                 end_time: object = None, batch_size_days: float | None = None,
                                 overlap_days: float | None = None,
                                 batch_limit: int | None = None) -> list[TrainingBatch]:
        """Check the run against the store's catalog, then slice it into batches.

        The arguments (the original API's) change the run's configuration
        first: ``overlap_days`` is the original name for a training span
        given in days (each window's models see that much data before it;
        windows never overlap, so no origin is scored twice), ``batch_limit``
        keeps the first N batches in time order.
        """
        changes = {k: v for k, v in {"variables": variables, "start": start_time, "end": end_time,
                                     "batch_size_days": batch_size_days, "batch_limit": batch_limit}.items()
                   if v is not None}
        if overlap_days is not None:
            days = require_float("overlap_days", overlap_days, minimum=0.0, inclusive=False)
            changes["lookback"] = f"{math.ceil(days)}D"
        if changes:
            self._configure(TrainingConfig.from_mapping({**self.config.to_dict(), **changes}))
        return self._plan(self.config.workers)

    def _plan(self, workers: int) -> list[TrainingBatch]:
        """The run's batches, sized for ``workers`` batches at a time."""
        config = self.config
        store = open_store(config.store_path, config.store_kind)
        variables = config.variables or store.variables
        if not variables:
            raise DataError(f"store {config.store_path} holds no variables")
        infos = [store.info(v) for v in variables]  # a lookback longer than a history uses what there is
        start = config.start or min(pd.Timestamp(i.first) for i in infos)
        end = config.end or max(pd.Timestamp(i.last) + i.median_step for i in infos)
        if not any(pd.Timestamp(i.first) < end and pd.Timestamp(i.last) >= start for i in infos):
            raise DataError(f"no observations of the selected variables between {start} and {end}")
        self.batches, self._typical_origins = plan_batches(
            infos, start, end, config.window_grid, config.variables_per_batch, workers, config.retrodiction.step)
        if config.batch_limit is not None:
            self.batches = sorted(self.batches, key=lambda b: b.start_time)[:config.batch_limit]
        self._infos = {i.name: i for i in infos}
        return self.batches

    def _restore_from_journal(self) -> None:
        """Read back what an earlier attempt of this run finished, and plan only what is missing.

        Work is settled per (window, span, variable, model spec), so a resume
        with another worker count or batch size finishes exactly what is
        missing, and a resume with a model added runs only that model.
        """
        if not self._journal.exists():
            return
        if not self.config.resume:
            raise ConfigError(
                f"run {self.run_id!r} already has a results journal at {self._journal.path}; "
                "pass --resume to continue it or --run-id to start a new run"
            )
        records = self._journal.read(_parse_journal_record, repair=self.config.repair)
        if self._journal.dropped:
            self.warnings.append(f"dropped {len(self._journal.dropped)} damaged journal line(s) "
                                 f"({', '.join(map(str, self._journal.dropped[:5]))}); the journal as it was is "
                                 f"in {self._journal.saved_copy}")
        self._check_procedure([r for r in records if isinstance(r, dict) and r.get("kind") == "run"])
        for result in records:
            if isinstance(result, BatchResult):  # failed batches are tried again
                self.results[result.batch_id] = result
                self.resumed.add(result.batch_id)
        self._done_units = set().union(*(r.units() for r in self.results.values()))
        self.batches = self._remaining(self.batches)

    def _remaining(self, batches: list[TrainingBatch]) -> list[TrainingBatch]:
        """``batches`` less the (window, span, variable, spec) units the journal holds."""
        if not self._done_units:
            return batches
        spec_ids = tuple(spec.id for spec in self.config.retrodiction.models)
        remaining = []
        for batch in batches:
            by_missing: dict[tuple[str, ...], list[str]] = defaultdict(list)
            span = (batch.window_index, batch.start_time.isoformat(), batch.end_time.isoformat())
            for variable in batch.variables:
                missing = tuple(s for s in spec_ids if (*span, variable, s) not in self._done_units)
                if missing:
                    by_missing[missing].append(variable)
            remaining.extend(dataclasses.replace(batch, variables=tuple(names), batch_id="",
                                                 models=None if missing == spec_ids else missing)
                             for missing, names in by_missing.items())
        return remaining

    def _check_procedure(self, headers: list[dict[str, Any]]) -> None:
        """A resume may add or drop models, never change how forecasts are made or scored."""
        if not headers or any("procedure" not in h for h in headers):
            raise ConfigError(f"run {self.run_id!r}: journal {self._journal.path} was written by an older "
                              "version of this tool; start a new run with another --run-id")
        current = self.config.procedure()
        for header in headers:
            for option, then in header["procedure"].items():
                if current.get(option) != then:
                    raise ConfigError(
                        f"option '{option}' differs from the run being resumed ({then!r} then, "
                        f"{current.get(option)!r} now): resume with the same value, or start a new run "
                        "with another --run-id")

    # cluster -----------------------------------------------------------------
    def _connect(self) -> None:
        self._hidden_script = main_script_hidden()
        self._hidden_script.__enter__()  # until disconnect: nannies start workers again after a loss
        self._client, self._cluster = connect(self.config, self._given_client)
        self.dashboard_link = self._client.dashboard_link
        logger.info("connected to %s (dashboard %s)", self._client.scheduler.address, self.dashboard_link)

    def _disconnect(self) -> None:
        if self._client is not self._given_client:  # a client we were given stays open
            disconnect(self._client, self._cluster)
        self._client = self._cluster = None
        if self._hidden_script is not None:
            self._hidden_script.__exit__(None, None, None)
            self._hidden_script = None

    # the run -----------------------------------------------------------------
    def start_training(self, progress_callback: ProgressCallback | None = None) -> dict[str, Any]:
        """Run every batch not already journalled; return the summary."""
        started = time.perf_counter()
        report = progress_reporter(progress_callback, lambda: sum(b.failed for b in self.batches))
        self.prepare_training_batches()
        self._refuse_foreign_results(self.config.results_path)  # before any work, not after it
        lock = RunLock(self.config.run_dir, self.run_id)
        lock.acquire()
        try:
            return self._train_locked(started, report)
        finally:
            lock.release()

    def _train_locked(self, started: float, report: ProgressCallback) -> dict[str, Any]:
        self._restore_from_journal()
        config = self.config
        in_process = config.workers == 0 and not config.scheduler_address and self._given_client is None
        logger.info("run %s: %d batches to run, %d read back from the journal; trust in %s", self.run_id,
                    len(self.batches), len(self.resumed), config.trust_db_path)
        tracker = OptimizedTrustTracker(config.trust_db_path, prior_alpha=config.prior_alpha,
                                        prior_beta=config.prior_beta,
                                        decay_half_life_days=config.decay_half_life_days)
        self._buffer = TrustUpdateBuffer(tracker)
        metrics_store = MetricsStore(config.metrics_db_path)
        try:
            for batch_id in self.resumed:  # the trust database skips what it holds already
                self._buffer.add(self.results[batch_id].evidence)
            pending = largest_first([b for b in self.batches if not b.processed], self._infos,
                                    config.retrodiction.step)
            if pending and not self._stopping.is_set():
                connect_started = time.perf_counter()
                if not in_process:
                    self._connect()
                    self._client.subscribe_topic(METRICS_TOPIC, self._metrics_of_this_run(metrics_store))
                    self._client.subscribe_topic(ATTEMPTS_TOPIC, self.attempts)
                    slots = self.task_slots = task_slots(self._client)
                    if slots != config.workers and config.variables_per_batch is None:  # size for the real cluster
                        self.batches = self._remaining(self._plan(slots))
                        pending = largest_first(self.batches, self._infos, config.retrodiction.step)
                self._journal.append({"kind": "run", "run_id": self.run_id, "procedure": config.procedure(),
                                      "models": [spec.id for spec in config.retrodiction.models]})
                self.timings["connect_seconds"] = time.perf_counter() - connect_started
            warning = None if in_process else small_batch_warning(self._typical_origins, len(self.batches))
            if warning:
                self.warnings.append(warning)
            report(self._done_count(), self._total_count(), None)
            if pending and not self._stopping.is_set():
                run_started = time.perf_counter()
                if in_process:
                    self._run_in_process(pending, report, metrics_store)
                else:
                    self._run(pending, report)
                self.timings["batches_seconds"] = time.perf_counter() - run_started
                self._wait_for_metrics(metrics_store)
        except BaseException:
            self._close_run(tracker, metrics_store, started, failing=True)
            raise
        self._close_run(tracker, metrics_store, started, failing=False)
        return self.get_results_summary()

    def _close_run(self, tracker: OptimizedTrustTracker, metrics_store: MetricsStore, started: float, *,
                   failing: bool) -> None:
        """Flush trust, read it back, close the stores and the cluster: every step is tried.

        When the run is already failing, a later error (often a consequence of
        the first, such as a full disk) is logged and the first one stands.
        """
        first: BaseException | None = None
        steps = [self._buffer.close, lambda: setattr(self, "trust", tracker.estimates(self.trust_keys())),
                 tracker.close, metrics_store.close, self._disconnect]
        for step in steps:
            try:
                step()
            except Exception as exc:
                if failing:
                    logger.info("while closing a failed run: %s", one_line(exc))
                elif first is None:
                    first = exc
        self.elapsed_seconds = time.perf_counter() - started
        if first is not None:
            raise first

    def _run(self, pending: list[TrainingBatch], report: ProgressCallback) -> None:
        """Collect results as they complete.

        Each future reports itself to a queue when it finishes, so the loop
        sleeps until there is work for it, and wakes at least every
        ``POLL_SECONDS`` to act on stop requests and timeouts.
        """
        config = self.config
        for batch in pending:
            future = self._client.submit(_dask_process_batch_task, batch, config,
                                         key=f"retrodict-{self.run_id}-{batch.batch_id}", retries=config.retries,
                                         pure=False)
            self._futures[future] = batch
            future.add_done_callback(self._finished.put)
        finished: list[Any] = []
        try:
            self._collect(report, finished)
        finally:
            for future in finished:  # journalled already; the workers may drop their copies now
                future.release()

    def _collect(self, report: ProgressCallback, finished: list[Any]) -> None:
        while self._futures:
            if self._stopping.is_set():
                self._client.cancel(list(self._futures))
                return
            self._expire_hung_batches(report)
            try:
                future = self._finished.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            batch = self._futures.get(future)
            if batch is None:  # a wake-up, or a batch that timed out earlier and is already recorded
                continue
            if future.status != "finished" and self._scheduler_gone():
                return self._lose_scheduler()  # the unfinished batches stay "not run": a resume runs them
            if future.status == "finished":
                try:
                    result = future.result()
                except OSError:  # the result was there, but the way to it broke: the scheduler is gone
                    return self._lose_scheduler()
            del self._futures[future]
            if future.status == "finished":
                self._on_batch_complete(batch, result)
            elif future.status == "error":
                self._on_batch_error(batch, future.exception())
            else:  # cancelled or lost by the cluster, not by us: a resume runs it again
                self._on_batch_error(batch, RetrodictionError(f"the cluster reported the batch {future.status}"))
            finished.append(future)  # held until the run ends, so the dashboard counts it as done
            report(self._done_count(), self._total_count(), batch)

    def _run_in_process(self, pending: list[TrainingBatch], report: ProgressCallback,
                        metrics_store: MetricsStore) -> None:
        """``workers = 0``: the same batches, one after another in this process, without Dask.

        For debugging (breakpoints work) and as the serial side of
        bench/bench_parallel.py. Failures are retried like on a cluster;
        there is no timeout, as nothing could interrupt a hung batch here.
        """
        with torch_threads_for(self.config.retrodiction):  # as on a worker: the same numbers, the same speed
            self._run_batches_in_process(pending, report, metrics_store)

    def _run_batches_in_process(self, pending: list[TrainingBatch], report: ProgressCallback,
                                metrics_store: MetricsStore) -> None:
        for batch in pending:
            if self._stopping.is_set():
                return
            for attempt in range(self.config.retries + 1):
                self.attempts.counts[batch.batch_id] = attempt + 1
                try:
                    result = process_batch(batch, self.config, metrics_store.submit_chunk, worker="in-process")
                except Exception as exc:  # a failing batch is recorded, like a failed Dask task
                    error = exc
                else:
                    self._on_batch_complete(batch, result)
                    break
            else:
                self._on_batch_error(batch, error)
            report(self._done_count(), self._total_count(), batch)

    def _lose_scheduler(self) -> None:
        self.scheduler_lost = (f"lost the scheduler at {self._client.scheduler.address} mid-run; "
                               f"{sum(b.processed for b in self.batches)} of {len(self.batches)} batches "
                               "finished and are kept, the rest did not run")
        logger.info(self.scheduler_lost)

    def _scheduler_gone(self) -> bool:
        """True once the client has lost its scheduler (it cancels every future then)."""
        return self._client.status not in ("running", "newly-created")

    def _expire_hung_batches(self, report: ProgressCallback) -> None:
        """Turn a batch running past its timeout into a failure and free its worker."""
        limit = self.config.batch_timeout_seconds
        if limit is None:
            return
        now = time.monotonic()
        for future, batch in list(self._futures.items()):
            started = self.attempts.started(batch.batch_id)
            if started is None or now - started[0] <= limit or future.done():
                continue
            del self._futures[future]
            self._client.cancel([future])
            self._on_batch_error(batch, BatchTimeoutError(f"timed out after {limit:g} s on {started[1]}"))
            try:  # the stuck thread cannot be interrupted; a nanny can restart its process
                self._client.restart_workers([started[1]], timeout=30, raise_for_error=False)
            except Exception as exc:  # no nanny (dask worker --no-nanny): the worker stays busy
                logger.info("could not restart worker %s: %s", started[1], one_line(exc))
            report(self._done_count(), self._total_count(), batch)

    def _record_result(self, batch: TrainingBatch, result: BatchResult) -> None:
        batch.processed = True
        batch.processing_time = result.processing_time
        batch.results = result.to_dict()
        batch.error = None
        self.results[batch.batch_id] = result

    def _on_batch_complete(self, batch: TrainingBatch, result: BatchResult) -> None:
        """Journal first (durable), then apply: a crash after this line loses nothing."""
        self._journal.append({"batch_id": batch.batch_id, "status": "done", "result": result.to_dict()})
        logger.debug("batch %s done on %s in %.2f s", batch.batch_id, result.worker, result.processing_time)
        self._record_result(batch, result)
        self._buffer.add(result.evidence)

    def _on_batch_error(self, batch: TrainingBatch, exc: BaseException) -> None:
        batch.error = one_line(exc)
        logger.info("batch %s failed: %s", batch.batch_id, batch.error)
        self._journal.append({"batch_id": batch.batch_id, "status": "failed", "error": batch.error,
                              "attempts": self.attempts.counts.get(batch.batch_id, 0)})

    def _metrics_of_this_run(self, metrics_store: MetricsStore) -> Callable[[tuple[float, dict]], None]:
        """The topic is the scheduler's, shared by every run on it: keep only this run's chunks."""
        def receive(event: tuple[float, dict]) -> None:
            if event[1].get("run_id") == self.run_id:
                metrics_store.submit_chunk(event[1])

        return receive

    def _wait_for_metrics(self, metrics_store: MetricsStore) -> None:
        """Metrics travel separately from results; give the live stream time to land."""
        expected = {bid: r.metrics_sent for bid, r in self.results.items() if bid not in self.resumed}
        deadline = time.monotonic() + METRICS_WAIT_SECONDS
        while True:
            metrics_store.drain()
            stored = metrics_store.counts_by_batch(self.run_id)
            if all(stored.get(bid, 0) >= n for bid, n in expected.items()) or time.monotonic() > deadline \
                    or metrics_store.error:
                break
            time.sleep(0.05)
        self.metrics_stored = sum(min(stored.get(bid, 0), n) for bid, n in expected.items())
        self.metrics_error = metrics_store.error
        if self.metrics_error:
            self.warnings.append(f"{self.metrics_error}; the results and trust are complete, the live metrics "
                                 f"are not ({self.metrics_stored} of {sum(expected.values())} stored)")

    def _done_count(self) -> int:
        return len(self.resumed) + sum(1 for b in self.batches if b.processed or b.failed)

    def _total_count(self) -> int:
        return len(self.resumed) + len(self.batches)

    def trust_keys(self) -> list[TrustKey]:
        """The posteriors this run speaks about: its variables × its model specs, in its schedule and context."""
        config = self.config
        return [TrustKey(variable, spec.id, config.schedule_id, config.retrodiction.context_id)
                for variable in self._infos for spec in config.retrodiction.models]

    def stop_training(self) -> None:
        """Stop submitting and cancel what has not finished; finished work is kept.

        Safe to call from a signal handler or another thread: it raises a flag
        and wakes the result loop (``SimpleQueue.put`` is reentrant), which
        cancels the pending batches.
        """
        self._stopping.set()
        self._finished.put(None)

    # reporting ---------------------------------------------------------------
    def _refuse_foreign_results(self, target: Path) -> None:
        """Never overwrite what another run (or something else) wrote, unless told to."""
        if self.config.force or not target.exists():
            return
        owner = _results_run_id(target)
        if owner != self.run_id:
            what = f"the results of run {owner!r}" if owner else "a file that is not this run's results"
            raise ConfigError(f"{target} holds {what}; choose another --output, or pass --force to overwrite it")

    def get_results_summary(self) -> dict[str, Any]:
        config = self.config
        ran = [r for bid, r in self.results.items() if bid not in self.resumed]
        summary = {
            "run_id": self.run_id,
            "store": str(config.store_path),
            "start": min((b.start_time for b in self.batches), default=None),
            "end": max((b.end_time for b in self.batches), default=None),
            "models": [spec.id for spec in config.retrodiction.models],
            "schedule": config.schedule_id,
            "context": config.retrodiction.context_id,
            "batches": {
                "total": self._total_count(),
                "completed": len(self.resumed) + sum(b.processed for b in self.batches),
                "resumed": len(self.resumed),
                "failed": sum(b.failed for b in self.batches),
                "not_run": sum(not (b.processed or b.failed) for b in self.batches),
            },
            "failed_batches": [{"batch_id": b.batch_id, "error": b.error,
                                "attempts": self.attempts.counts.get(b.batch_id, 0)}
                               for b in self.batches if b.failed],
            "elapsed_seconds": self.elapsed_seconds,
            "timings": dict(self.timings),
            "compute_seconds": sum(r.processing_time for r in ran),
            "warnings": list(self.warnings),
            "peak_memory_mib": max((r.peak_memory_mib for r in ran), default=None),
            "metrics": {"sent": sum(r.metrics_sent for r in ran), "stored": self.metrics_stored,
                        "error": self.metrics_error},
            "dashboard_link": self.dashboard_link,
            "scheduler_lost": self.scheduler_lost,
            "trust_db": str(config.trust_db_path),
        }
        for bound in ("start", "end"):
            summary[bound] = None if summary[bound] is None else summary[bound].isoformat()
        keep = {(key.variable, key.spec) for key in self.trust_keys()}
        summary.update(summarise(self.results.values(), self.trust, keep))
        return summary

    def save_results_to_file(self, path: str | Path | None = None) -> Path:
        """Write config, summary and every batch's outcome as JSON; return the path."""
        target = Path(path) if path is not None else self.config.results_path
        self._refuse_foreign_results(target)
        resumed = [{"batch_id": r.batch_id, "start": r.start, "end": r.end, "variables": list(r.variables),
                    "models": sorted({o.model for o in r.outcomes}), "status": "done (resumed)", "error": None,
                    "result": r.to_dict()} for bid, r in self.results.items() if bid in self.resumed]
        body = {
            "config": self.config.to_dict(),
            "summary": self.get_results_summary(),
            "batches": resumed + [
                {"batch_id": b.batch_id, "start": b.start_time.isoformat(), "end": b.end_time.isoformat(),
                 "variables": list(b.variables), "models": list(b.models or (s.id for s in self.config.retrodiction.models)),
                 "status": "done" if b.processed else "failed" if b.failed else "not run",
                 "error": b.error, "result": b.results}
                for b in self.batches
            ],
        }
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(json.dumps(body, indent=1, allow_nan=False))
            tmp.replace(target)
        except OSError as exc:
            raise RetrodictionError(f"cannot write results to {target}: {exc}") from None
        return target


def _parse_journal_record(record: dict[str, Any]) -> BatchResult | dict[str, Any]:
    """A done record's result, read back whole; any other record checked for its shape."""
    if record.get("kind") == "run":
        if not isinstance(record.get("run_id"), str):
            raise ValueError("a run header without its run id")
        return record
    if not isinstance(record.get("batch_id"), str):
        raise ValueError("a record without a batch id")
    if record.get("status") == "done":
        return BatchResult.from_dict(record["result"])
    if record.get("status") == "failed":
        return record
    raise ValueError(f"unknown status {record.get('status')!r}")


def _results_run_id(path: Path) -> str | None:
    """The run id a results file was written by (None if it is not one of ours)."""
    try:
        return json.loads(path.read_text())["summary"]["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_parallel_retrodiction_training(
    variables: Sequence[str] | None = None,
    start_time: object = None,
    end_time: object = None,
    store_path: str | Path | None = None,
    *,
    batch_size_days: float = 90.0,
    max_workers: int = 2,
    dask_dashboard_port: int = 8787,
    scheduler_address: str | None = None,
    progress_callback: ProgressCallback | None = None,
    output_file: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """One call: build the config, run every batch, save results, return the summary.

    The store is ``store_path``, else the original config dict's
    ``data_store_config.base_path``, else ``RECURSIVE_TRAINING_STORE``.
    ``output_file`` is where the results JSON goes (default:
    OUTPUT_DIR/RUN_ID/results.json). ``options`` takes any other
    :class:`TrainingConfig` or :class:`RetrodictionSettings` field by name
    (``models``, ``horizon``, ``output_dir``, ``resume``, ...).
    """
    given = {**(config or {}), **({"store_path": store_path} if store_path is not None else {})}
    settings = TrainingConfig.from_mapping({
        **options_from_original_config(given), "variables": tuple(variables or ()), "start": start_time,
        "end": end_time, "batch_size_days": batch_size_days, "workers": max_workers,
        "dashboard_port": dask_dashboard_port, "scheduler_address": scheduler_address,
        **({"output": output_file} if output_file is not None else {}), **options,
    })
    coordinator = ParallelTrainingCoordinator(settings)
    summary = coordinator.start_training(progress_callback)
    coordinator.save_results_to_file()
    return summary
