"""Run batches, on a Dask cluster or in this process, under one retry policy.

An executor only runs attempts and hands each batch's final outcome to a
:class:`BatchSink`. Which batches to run is the planner's business, and what
happens to an outcome (journal, trust, metrics) the recorder's; so a new kind
of cluster needs only a client, and a new executor only these two methods.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from .base import BackgroundStart, BatchTimeoutError, RetrodictionError, one_line, require_int
from .batching import TrainingBatch
from .config import TrainingConfig
from .metrics import METRICS_TOPIC, dask_event_sender
from .outcomes import BatchResult
from .worker_task import as_on_a_worker, process_batch, single_threaded_torch, warm_up

__all__ = ["AttemptLog", "AutoExecutor", "BatchExecutor", "BatchSink", "DaskExecutor", "HandoverExecutor",
           "InProcessExecutor", "CLUSTER_START_SECONDS",
           "RetryPolicy", "ATTEMPTS_TOPIC", "GROUP_LIMIT", "GROUP_WINDOW_SECONDS", "POLL_SECONDS", "_dask_process_batch_task"]

logger = logging.getLogger(__name__)

ATTEMPTS_TOPIC = "retrodiction-attempts"
CLUSTER_START_SECONDS = 3.0  # starting and closing a 2-worker local cluster here (bench/bench_end_to_end.py)
POLL_SECONDS = 0.2  # how soon a stop request or a batch timeout is acted on; results wake the loop at once
HANDOVER_POLL_SECONDS = 0.02  # how soon a ready cluster gets the batches left while one runs here
GROUP_LIMIT = 1000  # outcomes fetched, journalled (one fsync) and applied together at most
# after an outcome arrives, how long others may join its group: a thousand workers' outcomes then share one
# gather and one fsync instead of one each, for at most this much delay (bench/bench_coordinator.py)
GROUP_WINDOW_SECONDS = 0.02
IN_PROCESS = "in-process"


class BatchSink(Protocol):
    """Where an executor hands each batch's final outcome, once per batch; outcomes that arrive together
    may come as one group (journalled with one fsync)."""

    def batches_done(self, done: Sequence[tuple[TrainingBatch, BatchResult]]) -> None: ...

    def batch_failed(self, batch: TrainingBatch, error: BaseException) -> None: ...


class BatchExecutor(Protocol):
    """Runs batches and reports each one's final outcome to a sink; what a new executor implements."""

    lost_scheduler: bool  # the run ended because the cluster went away: unfinished batches are "not run"

    def run(self, batches: Sequence[TrainingBatch], sink: BatchSink) -> None: ...

    def wake(self) -> None:
        """Make ``run`` notice the stop flag soon; safe from a signal handler."""

    def close(self) -> None:
        """Let go of what the executor holds on the cluster; the client itself is the caller's."""


@dataclass(frozen=True)
class RetryPolicy:
    """When a batch whose code raised runs again: the same rule on a cluster and in-process.

    Only errors raised by the batch itself are retried. A timeout, a batch
    that kept killing its workers, or one the cluster cancelled is final: a
    retry would only repeat the damage.
    """

    retries: int

    def __post_init__(self) -> None:
        require_int("retries", self.retries, minimum=0)

    def again(self, attempts: int) -> bool:
        """Another attempt after ``attempts`` failed ones?"""
        return attempts <= self.retries


class AttemptLog:
    """Attempts per batch and when the latest started, wherever it ran.

    On a cluster the workers announce each attempt on ``ATTEMPTS_TOPIC``, so
    reruns after a lost worker count too, and a batch is timed from when it
    really started, not from when it was queued.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.counts: dict[str, int] = {}
        self.running: dict[str, tuple[float, str]] = {}  # batch id -> (monotonic start, worker)
        self._lock = threading.Lock()

    def started(self, batch_id: str, worker: str) -> None:
        with self._lock:
            self.counts[batch_id] = self.counts.get(batch_id, 0) + 1
            self.running[batch_id] = (time.monotonic(), worker)

    def queued(self, batch_id: str) -> None:
        """A retry waits for a worker: its clock starts when it does."""
        with self._lock:
            self.running.pop(batch_id, None)

    def __call__(self, event: tuple[float, dict]) -> None:
        """A worker's announcement (a Dask topic handler); other runs' are ignored."""
        message = event[1]
        if message.get("run_id") == self.run_id:
            self.started(message["batch_id"], message["worker"])

    def settled(self, batch_id: str, *, keep_count: bool = False) -> int:
        """The attempts a batch took, now that its outcome arrived; it is forgotten (but for its count, when
        ``keep_count``), so the log holds the batches in flight, not every batch of the run."""
        with self._lock:
            self.running.pop(batch_id, None)
            return self.counts.get(batch_id, 0) if keep_count else self.counts.pop(batch_id, 0)

    def start_of(self, batch_id: str) -> tuple[float, str] | None:
        with self._lock:
            return self.running.get(batch_id)


def _dask_process_batch_task(batch: TrainingBatch, config: TrainingConfig) -> BatchResult:
    """The task Dask runs for each batch: top level, so it pickles by reference.

    It first announces the attempt (see :class:`AttemptLog`).
    """
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(ATTEMPTS_TOPIC, {"run_id": config.resolved_run_id(), "batch_id": batch.batch_id,
                                      "worker": worker.address})
    if config.retrodiction.needs_torch:
        single_threaded_torch()  # a worker the preparation plugin has not reached yet
    return process_batch(batch, config, dask_event_sender(METRICS_TOPIC), worker=worker.address)


class InProcessExecutor:
    """``workers = 0``: the batches one after another in this process, without Dask.

    For debugging (breakpoints work) and as the serial side of the benches.
    There is no timeout: nothing could interrupt a hung batch here.
    """

    lost_scheduler = False  # there is no scheduler to lose

    def __init__(self, config: TrainingConfig, policy: RetryPolicy, attempts: AttemptLog,
                 send_metrics: Callable[[dict], None], stopping: threading.Event) -> None:
        self.config, self.policy, self.attempts = config, policy, attempts
        self._send_metrics, self._stopping = send_metrics, stopping

    def run(self, batches: Sequence[TrainingBatch], sink: BatchSink) -> None:
        with as_on_a_worker(self.config.retrodiction):
            for batch in batches:
                if self._stopping.is_set():
                    return
                self._run_one(batch, sink)

    def _run_one(self, batch: TrainingBatch, sink: BatchSink) -> None:
        try:
            result = self.attempt(batch)
        except Exception as exc:  # a failing batch is recorded, like a failed Dask task
            sink.batch_failed(batch, exc)
        else:
            sink.batches_done([(batch, result)])

    def attempt(self, batch: TrainingBatch) -> BatchResult:
        """``batch``'s result, tried again as the policy allows; the last error if every try failed."""
        tries = 0
        while True:
            tries += 1
            self.attempts.started(batch.batch_id, IN_PROCESS)
            try:
                return process_batch(batch, self.config, self._send_metrics, worker=IN_PROCESS)
            except Exception:
                if not self.policy.again(tries):
                    raise

    def wake(self) -> None:
        """Nothing to wake: the loop checks the stop flag between batches."""
        return None

    def close(self) -> None:
        """Nothing held."""
        return None


class DaskExecutor:
    """Batches as Dask tasks on ``client``'s cluster, collected as they finish.

    Each future reports itself to a queue when it finishes, so the loop
    sleeps until there is work for it, and wakes at least every
    ``POLL_SECONDS`` to act on stop requests and timeouts. Metrics the
    workers publish reach ``send_metrics`` when they are this run's.
    """

    def __init__(self, client: Any, config: TrainingConfig, policy: RetryPolicy, attempts: AttemptLog,
                 send_metrics: Callable[[dict], None], stopping: threading.Event) -> None:
        self.client, self.config, self.policy, self.attempts = client, config, policy, attempts
        self.run_id = config.resolved_run_id()
        self.lost_scheduler = False  # True once the scheduler went away mid-run
        self._stopping = stopping
        self._futures: dict[Any, TrainingBatch] = {}
        self._recomputing: set[Any] = set()  # finished, then lost with their worker: Dask computes them again
        self._submitted: dict[str, int] = {}
        self._finished: queue.SimpleQueue = queue.SimpleQueue()  # futures as they finish; None only wakes

        def this_runs_metrics(event: tuple[float, dict]) -> None:  # the topic is shared by every run
            if event[1].get("run_id") == self.run_id:
                send_metrics(event[1])

        client.subscribe_topic(METRICS_TOPIC, this_runs_metrics)
        client.subscribe_topic(ATTEMPTS_TOPIC, attempts)

    def wake(self) -> None:
        """Wake the result loop (``SimpleQueue.put`` is reentrant: safe from a signal handler)."""
        self._finished.put(None)

    def close(self) -> None:
        """Stop listening on the run's topics: a client that outlives the run must not feed closed stores."""
        if self._scheduler_gone():  # nothing to tell a scheduler that is gone
            return
        for topic in (METRICS_TOPIC, ATTEMPTS_TOPIC):
            self.client.unsubscribe_topic(topic)

    def run(self, batches: Sequence[TrainingBatch], sink: BatchSink) -> None:
        for batch in batches:
            self._submit(batch)
        finished: list[Any] = []
        try:
            self._collect(sink, finished)
        finally:
            for future in finished:  # recorded already; the workers may drop their copies now
                future.release()

    def _submit(self, batch: TrainingBatch) -> None:
        tries = self._submitted[batch.batch_id] = self._submitted.get(batch.batch_id, 0) + 1
        self.attempts.queued(batch.batch_id)
        key = f"retrodict-{self.run_id}-{batch.batch_id}" + (f"-try{tries}" if tries > 1 else "")
        future = self.client.submit(_dask_process_batch_task, batch, self.config, key=key, pure=False,
                                    resources=dict(self.config.resources) or None, priority=self.config.priority)
        self._futures[future] = batch
        future.add_done_callback(self._finished.put)

    def _collect(self, sink: BatchSink, finished: list[Any]) -> None:
        """Until every batch has its final outcome, the run is stopped, or the scheduler is gone.

        Finished futures are held in ``finished`` until the run ends, so the
        dashboard counts them as done.
        """
        from distributed import KilledWorker

        while self._futures:
            if self._stopping.is_set():
                self.client.cancel(list(self._futures))
                return
            self._expire_hung_batches(sink)
            self._requeue_recomputed()
            try:
                arrived = [self._finished.get(timeout=POLL_SECONDS)]
            except queue.Empty:
                continue
            closes = time.monotonic() + GROUP_WINDOW_SECONDS
            # what else finishes meanwhile: fetched and journalled together; none to wait for once every
            # outstanding batch is here (the run's last result, on a small cluster, waited the window for nothing)
            while len(arrived) < min(GROUP_LIMIT, len(self._futures)):
                try:
                    arrived.append(self._finished.get(timeout=max(0.0, closes - time.monotonic())))
                except queue.Empty:
                    break
            # wake-ups (None) and batches that timed out earlier (already recorded) are not ours any more
            mine = [(future, self._futures[future]) for future in dict.fromkeys(arrived) if future in self._futures]
            self._recomputing.update(future for future, _ in mine if future.status in ("lost", "pending"))
            mine = [(future, batch) for future, batch in mine if future not in self._recomputing]
            if any(future.status != "finished" for future, _ in mine) and self._scheduler_gone():
                self.lost_scheduler = True  # the unfinished batches stay "not run": a resume runs them
                return
            # each future's status read once: a worker lost while the sink records a result it sent must not
            # turn that recorded batch into a failure as well (a status read again after it said "lost")
            status = {future: future.status for future, _ in mine}
            done = [(future, batch) for future, batch in mine if status[future] == "finished"]
            try:
                results = self.client.gather([future for future, _ in done]) if done else []
            except OSError:  # the results were there, but the way to them broke: the scheduler is gone
                self.lost_scheduler = True
                return
            for future, _ in mine:
                del self._futures[future]
                finished.append(future)
            if done:
                sink.batches_done([(batch, result) for (_, batch), result in zip(done, results)])
            for future, batch in mine:
                if status[future] == "error":
                    error = future.exception()
                    if not isinstance(error, KilledWorker) and self.policy.again(self._submitted[batch.batch_id]):
                        self._submit(batch)
                    else:
                        sink.batch_failed(batch, error)
                elif status[future] != "finished":  # cancelled by the cluster, not by us: a resume runs it
                    sink.batch_failed(batch, RetrodictionError(f"the cluster reported the batch {status[future]}"))

    def _requeue_recomputed(self) -> None:
        """Hand a batch whose result was lost with its worker (after it had finished, before it was
        fetched) back to the loop once Dask has computed it again: its done callback fired only once, and
        calling it a failure lost a batch that Dask was already redoing."""
        for future in [f for f in self._recomputing if f.status not in ("lost", "pending")]:
            self._recomputing.discard(future)
            self._finished.put(future)

    def _scheduler_gone(self) -> bool:
        """True once the client has lost its scheduler (it cancels every future then)."""
        return self.client.status not in ("running", "newly-created")

    def _expire_hung_batches(self, sink: BatchSink) -> None:
        """Turn a batch running past its timeout into a failure and free its worker."""
        limit = self.config.batch_timeout_seconds
        if limit is None:
            return
        now = time.monotonic()
        for future, batch in list(self._futures.items()):
            started = self.attempts.start_of(batch.batch_id)
            if started is None or now - started[0] <= limit or future.done():
                continue
            del self._futures[future]
            self.client.cancel([future])
            sink.batch_failed(batch, BatchTimeoutError(f"timed out after {limit:g} s on {started[1]}"))
            try:  # the stuck thread cannot be interrupted; a nanny can restart its process
                self.client.restart_workers([started[1]], timeout=30, raise_for_error=False)
            except Exception as exc:  # no nanny (dask worker --no-nanny): the worker stays busy
                logger.info("could not restart worker %s: %s", started[1], one_line(exc))


class _Delegating:
    """Passes wake-ups, closing and a lost scheduler on to the executor it handed the run to, once there is one."""

    delegate: BatchExecutor | None = None

    @property
    def lost_scheduler(self) -> bool:
        return self.delegate is not None and self.delegate.lost_scheduler

    def wake(self) -> None:
        if self.delegate is not None:
            self.delegate.wake()

    def close(self) -> None:
        if self.delegate is not None:
            self.delegate.close()


class HandoverExecutor(_Delegating):
    """Start a cluster in the background and compute in this process until it is ready; hand the rest over.

    A local cluster takes seconds to start, mostly one core importing what
    the workers need; the other core would idle. The smallest batches run
    here meanwhile, and the cluster gets all the others the moment it is
    ready, while the batch running here finishes here (waiting for it had
    left both workers idle for up to a batch). Each batch goes to exactly
    one side, taken from one list in this thread, so nothing is computed or
    counted twice; the two sides' outcomes reach the sink one at a time.
    """

    def __init__(self, in_process: InProcessExecutor, start_cluster: Callable[[], DaskExecutor],
                 stopping: threading.Event) -> None:
        self.in_process = in_process
        self._start_cluster, self._stopping = start_cluster, stopping

    def run(self, batches: Sequence[TrainingBatch], sink: BatchSink) -> None:
        cluster = BackgroundStart(self._start_cluster, name="start-cluster")
        remaining = list(batches)  # largest first: take from the end
        sink = _OneAtATime(sink)
        here: _BatchHere | None = None
        with as_on_a_worker(self.in_process.config.retrodiction):
            try:
                while remaining and not cluster.done and not self._stopping.is_set():
                    here = _BatchHere(self.in_process, remaining.pop(), sink)
                    if not here.wait(until=lambda: cluster.done) or here.hung:
                        break  # the cluster is ready (this batch finishes here meanwhile), or a batch hung here
                self.delegate = cluster.result()
                if remaining and not self._stopping.is_set():
                    self.delegate.run(remaining, sink)
            finally:
                if here is not None:
                    here.wait()


class _OneAtATime:
    """A sink fed from two threads, a batch finishing here while the cluster's are recorded: one call at a time."""

    def __init__(self, sink: BatchSink) -> None:
        self._sink, self._lock = sink, threading.Lock()

    def batches_done(self, done: Sequence[tuple[TrainingBatch, BatchResult]]) -> None:
        with self._lock:
            self._sink.batches_done(done)

    def batch_failed(self, batch: TrainingBatch, error: BaseException) -> None:
        with self._lock:
            self._sink.batch_failed(batch, error)


class _BatchHere:
    """One batch computed in a helper thread, which hands its outcome to the sink.

    Under the run's batch timeout, as on a worker: a batch that overruns it
    is recorded as timed out and abandoned (its thread cannot be
    interrupted; a daemon, it never holds up the exit), and what it returns
    late is dropped.
    """

    def __init__(self, executor: InProcessExecutor, batch: TrainingBatch, sink: BatchSink) -> None:
        self.batch, self._executor, self._sink = batch, executor, sink
        self.hung = False
        self._delivered = False
        self._settled = threading.Event()
        self._lock = threading.Lock()
        self._limit = executor.config.batch_timeout_seconds
        self._deadline = None if self._limit is None else time.monotonic() + self._limit
        threading.Thread(target=self._attempt, name=f"batch-{batch.batch_id}", daemon=True).start()

    def _attempt(self) -> None:
        try:
            outcome: BatchResult | BaseException = self._executor.attempt(self.batch)
        except Exception as exc:
            outcome = exc
        with self._lock:
            if not self.hung:
                if isinstance(outcome, BaseException):
                    self._sink.batch_failed(self.batch, outcome)
                else:
                    self._sink.batches_done([(self.batch, outcome)])
                self._delivered = True
        self._settled.set()

    def wait(self, until: Callable[[], bool] = lambda: False) -> bool:
        """Wait until the batch's outcome is recorded or it timed out (True), or until ``until()`` (False)."""
        while not self._settled.wait(HANDOVER_POLL_SECONDS):
            if until():
                return False
            if self._deadline is not None and time.monotonic() > self._deadline:
                with self._lock:
                    if self._delivered or self.hung:
                        return True
                    self.hung = True
                self._sink.batch_failed(self.batch, BatchTimeoutError(f"timed out after {self._limit:g} s {IN_PROCESS}"))
                return True
        return True


class AutoExecutor(_Delegating):
    """``workers = "auto"``: one batch here, then the rest here or on a local cluster, whichever is sooner.

    After the used families' one-time warm-up, the smallest batch runs here
    and its time per unit of estimated work (``work``: the planner's
    estimate, which weighs fits and origins by the models' costs) prices the
    rest. A local cluster of one worker
    per core would save about ``1 - 1/cores`` of that and costs about
    ``CLUSTER_START_SECONDS`` to start and close: it is started (with the
    start-up head start of :class:`HandoverExecutor`) only when it pays.
    The choice is announced in one line.
    """

    def __init__(self, in_process: InProcessExecutor, handover: Callable[[], HandoverExecutor],
                 work: Callable[[Sequence[TrainingBatch]], list[float]], cores: int,
                 announce: Callable[[str], None], stopping: threading.Event) -> None:
        self.in_process, self.work, self.cores = in_process, work, cores
        self._handover, self._announce, self._stopping = handover, announce, stopping

    def run(self, batches: Sequence[TrainingBatch], sink: BatchSink) -> None:
        remaining = list(batches)  # largest first: the probe is the last
        probe = remaining.pop()
        with as_on_a_worker(self.in_process.config.retrodiction):
            warm_up(self.in_process.config.retrodiction)
            started = time.perf_counter()
            self.in_process.run([probe], sink)
            seconds = time.perf_counter() - started
        probe_work, *remaining_work = self.work([probe, *remaining])
        left = seconds * sum(remaining_work) / probe_work if probe_work > 0 else seconds * len(remaining)
        if self.cores > 1 and left * (1 - 1 / self.cores) > CLUSTER_START_SECONDS:
            self._announce(f"workers auto: about {left:.0f} s of batches left, so a local cluster of "
                           f"{self.cores} workers")
            self.delegate = self._handover()
            self.delegate.run(remaining, sink)
        else:
            self._announce(f"workers auto: about {left:.1f} s of batches left, too little for a cluster to "
                           "pay for its start; running them in this process")
            self.in_process.run(remaining, sink)
