"""Run retrodiction batches in parallel on Dask and turn their outcomes into trust.

The coordinator joins three parts with one job each: planning
(:mod:`.planning`, pure: which batches, how big), execution
(:mod:`.execution`: a Dask executor over any client, or in-process, under
one retry policy) and recording (:mod:`.recording`: journal, trust, metrics).
Workers receive only a :class:`TrainingBatch` and a :class:`TrainingConfig`,
and read their data from the store by path.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from analytics import TrustEstimate, TrustKey

from .alerts import AlertMonitor, ClusterWatch
from .base import ConfigError, DataError, RetrodictionError, existing_objects_frozen, one_line, require_float
from .batching import TrainingBatch
from .cluster import Connection, connect, disconnect, main_script_hidden
from .config import AUTO, TrainingConfig
from .data import VariableInfo, open_store
from .execution import (
    AttemptLog,
    AutoExecutor,
    BatchExecutor,
    DaskExecutor,
    HandoverExecutor,
    InProcessExecutor,
    RetryPolicy,
    _dask_process_batch_task,
)
from .fork_server import start_fork_server
from .original_api import options_from_original_config, progress_reporter
from .outcome_spill import OutcomeSpill
from .outcomes import BatchResult
from .planning import (
    Unit,
    WorkEstimate,
    batch_work,
    check_procedure,
    largest_first,
    plan_run,
    remaining_work,
    small_batch_warning,
)
from .recording import RunRecorder, run_every
from .records import (
    BatchCounts,
    BatchOutcome,
    BatchStatus,
    MetricsReport,
    RunHeader,
    RunResults,
    RunSummary,
    results_run_id,
    write_results,
)
from .run_lock import RunLock
from .summary import RunTally

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


class ParallelTrainingCoordinator:
    """Plan, execute and record one run."""

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
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
        # decided once the first batch has run (see AutoExecutor), unless the cluster is to adapt
        self._auto = config.workers == AUTO and config.min_workers is None
        if config.workers == AUTO:
            config = dataclasses.replace(config, workers=config.max_workers)
        self._configure(config)
        self.batches: list[TrainingBatch] = []
        self.resumed: list[str] = []  # ids of the results read back from the journal, in journal order
        self._read_back: list[BatchResult] = []  # until they are replayed
        self._tally = RunTally()  # what the summary needs of each result; the results file has the rest
        self._compute_seconds = 0.0
        self._peak_memory_mib: float | None = None
        self.dashboard_link: str | None = None
        self.warnings: list[str] = []
        self.notes: list[str] = []  # choices the run made, such as --workers auto's
        self.timings: dict[str, float] = {}
        self._infos: dict[str, VariableInfo] = {}
        self._typical_work = 0.0
        self.trust: list[TrustEstimate] = []
        self.metrics = MetricsReport()
        self.scheduler_lost: str | None = None
        self.elapsed_seconds = 0.0
        self._given_client = client
        self._client: Any = None
        self._cluster: Any = None
        self._hidden_script: Any = None
        self._done_units: set[Unit] = set()
        self.task_slots = self.config.workers  # batches at a time: as planned, then the real count once connected
        self._executor: BatchExecutor | None = None
        self._stopping = threading.Event()
        self._report: ProgressCallback = lambda done, total, batch: None
        self._batches_started = 0.0
        self._finished = 0  # batches of this attempt with their final outcome
        self._failures = 0  # of which failed
        self._cluster_watch: ClusterWatch | None = None
        self._trust_checked = 0.0

    def _configure(self, config: TrainingConfig) -> None:
        """Take ``config``; the run id, recorder and attempt log follow from it."""
        self.config = config
        self.run_id = config.resolved_run_id()
        self._estimate = WorkEstimate.of(config.retrodiction)  # what batches cost, for planning and ordering
        self._recorder = RunRecorder(config)
        self._spill = OutcomeSpill(config.run_dir)
        self.alerts = AlertMonitor(config.alerts, self.run_id)
        self.attempts = AttemptLog(self.run_id)

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
        config = self.config
        store = open_store(config.store_location, config.store_kind)
        variables = config.variables or store.variables
        if not variables:
            raise DataError(f"store {config.store_path} holds no variables")
        self._infos = {name: store.info(name) for name in variables}
        # our own local cluster's task slots are known now; another cluster's once connected
        self.task_slots = config.workers * (config.threads_per_worker if self._own_cluster() else 1)
        self._plan(self.task_slots)
        if not self._in_process() and not self._auto:  # auto warns only if it chooses a cluster
            self._warn_if_batches_are_small()
        return self.batches

    def _in_process(self) -> bool:
        return self.config.workers == 0 and not self.config.scheduler_address and self._given_client is None

    def _plan(self, workers: int) -> list[TrainingBatch]:
        """The batches still to run, sized for ``workers`` batches at a time."""
        batches, self._typical_work = plan_run(self.config, list(self._infos.values()), workers, self._estimate)
        self.batches = remaining_work(batches, self._done_units, self._spec_ids())
        return self.batches

    def _own_cluster(self) -> bool:
        """This run starts its own cluster: not in-process, no scheduler address, no client given."""
        return self.config.workers > 0 and not self.config.scheduler_address and self._given_client is None

    def _own_local_cluster(self) -> bool:
        """This run starts its own LocalCluster, which this process can stand in for while it starts."""
        return self._own_cluster() and not self.config.cluster.job_queue

    def _spec_ids(self) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.config.retrodiction.models)

    def _restore_from_journal(self) -> None:
        """Read back what an earlier attempt of this run finished, and plan only what is missing."""
        if not self._recorder.journal.exists():
            return
        headers, results, note = self._recorder.read_back()
        if note:
            self.warnings.append(note)
        check_procedure(headers, self.config.procedure(), self.run_id, self._recorder.journal.path)
        by_id = {result.batch_id: result for result in results}  # failed batches are tried again
        self.resumed, self._read_back = list(by_id), list(by_id.values())
        self._done_units = set().union(*(r.units() for r in self._read_back))
        self.batches = remaining_work(self.batches, self._done_units, self._spec_ids())

    # cluster -----------------------------------------------------------------
    def _connect(self) -> Connection:
        self._hidden_script = main_script_hidden()
        self._hidden_script.__enter__()  # until disconnect: nannies start workers again after a loss
        connection = connect(self.config, self._given_client)
        self._client, self._cluster = connection.client, connection.cluster
        self.timings.update(cluster_start_seconds=connection.start_seconds,
                            warm_up_seconds=connection.warm_up_seconds)
        self.dashboard_link = self._client.dashboard_link
        logger.info("connected to %s (dashboard %s)", self._client.scheduler.address, self.dashboard_link)
        return connection

    def _disconnect(self) -> None:
        if self._client is not self._given_client:  # a client we were given stays open
            disconnect(self._client, self._cluster)
        self._client = self._cluster = None
        if self._hidden_script is not None:
            self._hidden_script.__exit__(None, None, None)
            self._hidden_script = None

    # the run -----------------------------------------------------------------
    def start_training(self, progress_callback: ProgressCallback | None = None) -> RunSummary:
        """Run every batch not already journalled; return the summary."""
        started = time.perf_counter()
        self._report = progress_reporter(progress_callback, lambda: self._failures)
        self.prepare_training_batches()
        self.timings["planning_seconds"] = time.perf_counter() - started
        self._refuse_foreign_results(self.config.results_path)  # before any work, not after it
        lock = RunLock(self.config.run_dir, self.run_id)
        lock.acquire()
        try:
            self._train_locked()
        finally:
            self.elapsed_seconds = time.perf_counter() - started
            lock.release()
        return self.get_results_summary()

    def _train_locked(self) -> None:
        self._restore_from_journal()
        config = self.config
        logger.info("run %s: %d batches to run, %d read back from the journal; trust in %s", self.run_id,
                    len(self.batches), len(self.resumed), config.trust_db_path)
        recorder = self._recorder
        try:
            recorder.open()
            self._replay()
            if self.batches and not self._stopping.is_set():
                self._executor = self._start_executor(self._in_process())
                recorder.begin(RunHeader(self.run_id, config.procedure(), self._spec_ids()))
            self._report(self._done_count(), self._total_count(), None)
            if self.batches and not self._stopping.is_set():
                self._batches_started = time.perf_counter()
                with existing_objects_frozen():  # this process's imports and cluster are not the run's garbage
                    self._executor.run(largest_first(self.batches, self._infos, self._estimate), self)
                waiting_started = time.perf_counter()
                self.timings["batches_seconds"] = waiting_started - self._batches_started
                if self._executor.lost_scheduler:
                    self._lose_scheduler()
                self.metrics = recorder.wait_for_metrics()
                self.timings["metrics_wait_seconds"] = time.perf_counter() - waiting_started
                if self.metrics.error:
                    self.warnings.append(f"{self.metrics.error}; the results and trust are complete, the live "
                                         f"metrics are not ({self.metrics.stored} of {self.metrics.sent} stored)")
        except BaseException:
            self._close_run(failing=True)
            raise
        self._close_run(failing=False)

    def _replay(self) -> None:
        """The results read back from the journal: their evidence to trust (which skips what it holds), their
        scores to the summary, their entries to the results file; then they are let go."""
        self._recorder.replay(self._read_back)
        for result in self._read_back:
            self._tally.add(result)
            self._spill.add(result.batch_id, 0, result.slim_json())
        self._read_back = []

    def _start_executor(self, in_process: bool) -> BatchExecutor:
        """In-process; our own local cluster, started in the background while the first batches run here;
        or the cluster we are given or sent to."""
        policy = RetryPolicy(self.config.retries)
        if in_process or self._own_local_cluster():
            here = InProcessExecutor(self.config, policy, self.attempts, self._recorder.receive_metrics,
                                     self._stopping)
            if in_process:
                return here

            def handover() -> BatchExecutor:  # called from this thread
                # from the main thread, so the server and its workers ignore Ctrl-C
                start_fork_server(self.config.retrodiction.needs_torch)
                if self._auto:
                    self._warn_if_batches_are_small()
                if self._head_start_pays():
                    return HandoverExecutor(here, lambda: self._start_cluster(policy), self._stopping)
                return self._start_cluster(policy)

            if self._auto:
                return AutoExecutor(here, handover, lambda batches: batch_work(batches, self._infos, self._estimate),
                                    self.config.workers, self._note, self._stopping)
            return handover()
        return self._start_cluster(policy)

    def _warn_if_batches_are_small(self) -> None:
        fixed = self.config.variables_per_batch
        warning = small_batch_warning(self._typical_work, len(self.batches), self._estimate.cost.per_batch,
                                      cut=fixed is not None and fixed < len(self._infos))
        if warning and warning not in self.warnings:  # planning runs again when a run starts
            self.warnings.append(warning)

    def _head_start_pays(self) -> bool:
        """Whether batches should run here while our cluster starts (see :class:`HandoverExecutor`).

        Not for torch models. Where this process would first have to import
        torch, that import takes as long as the whole cluster start on 2
        cores (bench/bench_end_to_end.py); and where torch is imported
        already, a batch trained here shares the cores and this process's
        interpreter lock with the cluster's start and then with both workers:
        a 12-point grid sweep on 2 workers took 0.4-0.5 s longer with the
        head start than without, in each of 3 interleaved pairs.
        """
        return not self.config.retrodiction.needs_torch

    def _note(self, text: str) -> None:
        logger.info(text)
        self.notes.append(text)

    def _start_cluster(self, policy: RetryPolicy) -> DaskExecutor:
        """Connect and prepare the workers; the plan is resized if the cluster has other task slots than planned."""
        connect_started = time.perf_counter()
        connection = self._connect()
        if self.alerts.rules.any:
            self._cluster_watch = ClusterWatch(self.alerts, connection.client)
        executor = DaskExecutor(self._client, self.config, policy, self.attempts, self._recorder.receive_metrics,
                                self._stopping)
        slots = connection.slots  # a remote or job queue cluster's size is known only now
        if slots != self.task_slots and self.config.variables_per_batch is None:
            self.task_slots = slots
            self._plan(slots)
        self._warn_if_no_worker_offers(connection.client)
        if self._own_cluster() and (self.config.cluster.job_queue or self.config.min_workers is not None):
            low, high = self.config.worker_range
            size = f"{low} to {high}" if low != high else f"{low}"
            self._note(f"cluster: {self.config.cluster.kind}, {size} workers, adaptive"
                       + (f", {slots} task slots" if self.config.cluster.job_queue else ""))
        self.timings["connect_seconds"] = time.perf_counter() - connect_started
        return executor

    def _warn_if_no_worker_offers(self, client: Any) -> None:
        """Batches that ask for resources no present worker offers wait for one to join: say so."""
        wanted = self.config.resources
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        if wanted and workers and not any(all(w.get("resources", {}).get(name, 0) >= amount
                                              for name, amount in wanted.items()) for w in workers):
            asked = ",".join(f"{name}={amount:g}" for name, amount in wanted.items())
            self.warnings.append(f"no worker of the cluster offers {asked} yet: the batches wait until one joins")

    def _close_run(self, *, failing: bool) -> None:
        """Flush trust, read it back, close the stores and the cluster: every step is tried."""
        started = time.perf_counter()
        steps = self._recorder.closing_steps(self.trust_keys(), lambda trust: setattr(self, "trust", trust))
        if self._executor is not None:
            steps.insert(0, self._executor.close)
        if self._cluster_watch is not None:
            steps.insert(0, self._cluster_watch.close)
        if self.config.alerts.trust and self._executor is not None:  # before the trust buffer closes
            steps.insert(0, self._check_watched_trust)
        steps.append(self.alerts.close)
        try:
            run_every([*steps, self._disconnect], failing=failing)
        finally:
            self.timings["close_seconds"] = time.perf_counter() - started

    def _lose_scheduler(self) -> None:
        self.scheduler_lost = (f"lost the scheduler at {self._client.scheduler.address} mid-run; "
                               f"{sum(b.processed for b in self.batches)} of {len(self.batches)} batches "
                               "finished and are kept, the rest did not run")
        logger.info(self.scheduler_lost)

    # the executor's sink -----------------------------------------------------
    def batches_done(self, done: Sequence[tuple[TrainingBatch, BatchResult]]) -> None:
        """Journal first (durable, one fsync for the group), then apply: a crash after this line loses nothing.

        What is kept of a result is its entry in the spill and its numbers in
        the tally: memory does not grow with the batches of a run.
        """
        done = [(batch, result) for batch, result in done if batch.status is not BatchStatus.DONE]  # once only
        self._recorder.done([result for _, result in done])
        self.timings.setdefault("first_result_seconds", time.perf_counter() - self._batches_started)
        for batch, result in done:
            logger.debug("batch %s done on %s in %.2f s", batch.batch_id, result.worker, result.processing_time)
            slim = result.without_evidence()
            attempts = self.attempts.settled(batch.batch_id)
            self._spill.add(batch.batch_id, attempts, result.slim_json())
            self._tally.add(slim)
            self._compute_seconds += slim.processing_time
            self._peak_memory_mib = max(self._peak_memory_mib or 0.0, slim.peak_memory_mib)
            batch.result, batch.error, batch.status = slim, None, BatchStatus.DONE
            self._finished += 1
            self.alerts.batch_finished(batch.batch_id, slim.worker, slim.processing_time, failed=False)
            self._check_watched_trust(batch)
            self._report(self._done_count(), self._total_count(), batch)
            batch.result = None  # the progress callback has seen it; the spill keeps it

    def batch_failed(self, batch: TrainingBatch, error: BaseException) -> None:
        batch.error, batch.status = one_line(error), BatchStatus.FAILED
        logger.info("batch %s failed: %s", batch.batch_id, batch.error)
        self._recorder.failed(batch.batch_id, batch.error, self.attempts.settled(batch.batch_id, keep_count=True))
        self._finished += 1
        self._failures += 1
        self.alerts.batch_finished(batch.batch_id, "-", None, failed=True)
        self._report(self._done_count(), self._total_count(), batch)

    def _check_watched_trust(self, batch: TrainingBatch | None = None) -> None:
        """Hand the watched pairs' trust to the alerts: at most once a second while batches that move it
        arrive, and once more (``batch`` None) when the run closes, so no drop goes untold."""
        watches = self.config.alerts.trust
        if batch is not None and (not any(w.variable in batch.variables for w in watches)
                                  or time.monotonic() - self._trust_checked < 1.0):
            return
        self._trust_checked = time.monotonic()
        self.alerts.trust(self._recorder.current_trust([self.config.trust_key(w.variable, w.model) for w in watches]))

    def _done_count(self) -> int:
        """Counted as outcomes arrive: scanning every batch per outcome made a large run quadratic."""
        return len(self.resumed) + self._finished

    def _total_count(self) -> int:
        return len(self.resumed) + len(self.batches)

    def trust_keys(self) -> list[TrustKey]:
        """The posteriors this run speaks about: its variables × its model specs, in its schedule and context."""
        config = self.config
        return [config.trust_key(variable, spec.id)
                for variable in self._infos for spec in config.retrodiction.models]

    def stop_training(self) -> None:
        """Stop submitting and cancel what has not finished; finished work is kept.

        Safe to call from a signal handler or another thread: it raises a flag
        and wakes the executor's loop, which cancels the pending batches.
        """
        self._stopping.set()
        if self._executor is not None:
            self._executor.wake()

    # reporting ---------------------------------------------------------------
    def _refuse_foreign_results(self, target: Path) -> None:
        """Never overwrite what another run (or something else) wrote, unless told to."""
        if self.config.force or not target.exists():
            return
        owner = results_run_id(target)
        if owner != self.run_id:
            what = f"the results of run {owner!r}" if owner else "a file that is not this run's results"
            raise ConfigError(f"{target} holds {what}; choose another --output, or pass --force to overwrite it")

    def _batch_entries(self) -> Iterator[str]:
        """Every batch's entry of the results file: those read back from the journal, then this attempt's in
        plan order, each read from the spill as it is written."""
        spilled = self._spill.lookup()
        for batch_id in self.resumed:
            _, text = spilled(batch_id)
            yield BatchOutcome.of_resumed(BatchResult.from_dict(json.loads(text))).to_json()
        spec_ids = self._spec_ids()
        for batch in self.batches:
            if batch.status is BatchStatus.DONE:
                attempts, text = spilled(batch.batch_id)
                yield BatchOutcome.of_batch(batch, spec_ids, attempts).to_json(text)
            else:
                yield self._unfinished(batch).to_json()

    def _unfinished(self, batch: TrainingBatch) -> BatchOutcome:
        """A failed or not-run batch as the results file reports it (the attempt log keeps a failure's count)."""
        return BatchOutcome.of_batch(batch, self._spec_ids(), self.attempts.counts.get(batch.batch_id, 0))

    def get_results_summary(self) -> RunSummary:
        config = self.config
        statuses = [b.status for b in self.batches]
        variables, per_model, failed_models = self._tally.summarise(
            self.trust, {(key.variable, key.spec) for key in self.trust_keys()})
        return RunSummary(
            run_id=self.run_id,
            store=config.store_location.identity,  # a report or server elsewhere still finds it
            start=min((b.start_time.isoformat() for b in self.batches), default=None),
            end=max((b.end_time.isoformat() for b in self.batches), default=None),
            models=self._spec_ids(),
            schedule=config.schedule_id,
            context=config.retrodiction.context_id,
            batches=BatchCounts(total=self._total_count(),
                                completed=len(self.resumed) + statuses.count(BatchStatus.DONE),
                                resumed=len(self.resumed), failed=statuses.count(BatchStatus.FAILED),
                                not_run=statuses.count(BatchStatus.NOT_RUN)),
            failed_batches=tuple(self._unfinished(b) for b in self.batches if b.status is BatchStatus.FAILED),
            elapsed_seconds=self.elapsed_seconds,
            timings=dict(self.timings),
            compute_seconds=self._compute_seconds,
            warnings=tuple(self.warnings),
            peak_memory_mib=self._peak_memory_mib,
            metrics=self.metrics,
            dashboard_link=self.dashboard_link,
            scheduler_lost=self.scheduler_lost,
            trust_db=str(Path(config.trust_db_path).resolve()),
            variables=variables,
            per_model=per_model,
            failed_models=failed_models,
        )

    def save_results_to_file(self, path: str | Path | None = None) -> Path:
        """Write config, summary and every batch's outcome as JSON (see :mod:`.records`); return the path."""
        target = Path(path) if path is not None else self.config.results_path
        self._refuse_foreign_results(target)
        return write_results(target, self.config.to_dict(), self.get_results_summary(), self._batch_entries())

    def _run_results(self) -> RunResults:
        return RunResults(self.config.to_dict(), self.get_results_summary(),
                          tuple(BatchOutcome.from_dict(json.loads(text)) for text in self._batch_entries()))

    def write_report(self) -> Path | None:
        """RUN_DIR/report.html, unless the config says not to; call it after saving the results: a report that
        cannot be made is a warning, never a lost run."""
        if not self.config.report:
            return None
        from .report import write_report

        try:
            return write_report(self.config.run_dir, results=self._run_results())
        except RetrodictionError as exc:
            self.warnings.append(f"no report: {exc}")
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
    client: Any = None,
    **options: Any,
) -> RunSummary:
    """One call: build the config, run every batch, save results and the report, return the summary.

    The store is ``store_path``, else the original config dict's
    ``data_store_config.base_path``, else ``RECURSIVE_TRAINING_STORE``.
    ``output_file`` is where the results JSON goes (default:
    OUTPUT_DIR/RUN_ID/results.json); the report goes to
    OUTPUT_DIR/RUN_ID/report.html (``report=False``: none). ``client`` is an existing Dask client
    to run on (left open). ``options`` takes any other
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
    coordinator = ParallelTrainingCoordinator(settings, client=client)
    summary = coordinator.start_training(progress_callback)
    coordinator.save_results_to_file()
    coordinator.write_report()
    return summary
