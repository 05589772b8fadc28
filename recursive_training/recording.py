"""Where a run's outcomes go, in this order: the journal (durable), then trust, then the metrics store.

A batch's result is journalled before the trust buffer sees it, so a crash
after :meth:`RunRecorder.done` loses nothing: a resume reads the journal back
and the trust database skips the evidence it holds already.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, Sequence

from analytics import OptimizedTrustTracker, TrustEstimate, TrustKey, TrustUpdateBuffer

from .base import ConfigError, one_line
from .config import TrainingConfig
from .journal import ResultsJournal
from .metrics import MetricsStore
from .outcomes import BatchResult
from .records import DoneRecord, FailedRecord, JournalRecord, MetricsReport, RunHeader, journal_line, parse_journal_line

__all__ = ["METRICS_WAIT_SECONDS", "MetricsLedger", "RunRecorder", "run_every"]

logger = logging.getLogger(__name__)

METRICS_WAIT_SECONDS = 30.0


def run_every(steps: Iterable[Callable[[], object]], *, failing: bool) -> None:
    """Try every step; raise the first failure once all were tried.

    When the run is already failing, a later error (often a consequence of
    the first, such as a full disk) is logged and the first one stands.
    """
    first: Exception | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:
            if failing:
                logger.info("while closing a failed run: %s", one_line(exc))
            elif first is None:
                first = exc
    if first is not None:
        raise first


class MetricsLedger:
    """Which batches' metrics are still on their way: a batch is kept only while what its result says it sent
    and what reached the store differ, so waiting for the last metrics costs what is outstanding, and the
    ledger does not grow with the run. Fed from the result loop and from the metrics writer thread."""

    def __init__(self) -> None:
        self.sent = 0
        self._stored = 0  # of the batches no longer kept
        self._expected: dict[str, int] = {}
        self._landed: dict[str, int] = {}
        self._lock = threading.Lock()

    def expect(self, batch_id: str, count: int) -> None:
        """A result says its batch sent ``count`` values (some may have landed already)."""
        with self._lock:
            self.sent += count
            landed = self._landed.get(batch_id, 0)
            if landed >= count:
                self._landed.pop(batch_id, None)
                self._stored += count
            else:
                self._expected[batch_id] = count

    def landed(self, batch_id: str, count: int) -> None:
        """``count`` of a batch's values are in the store (a retried batch's twice: it counts once)."""
        with self._lock:
            total = self._landed.get(batch_id, 0) + count
            expected = self._expected.get(batch_id)
            if expected is not None and total >= expected:
                del self._expected[batch_id]
                self._landed.pop(batch_id, None)
                self._stored += expected
            else:
                self._landed[batch_id] = total

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._expected)

    @property
    def stored(self) -> int:
        with self._lock:
            return self._stored + sum(min(self._landed.get(b, 0), n) for b, n in self._expected.items())


class RunRecorder:
    """The journal, the trust buffer and tracker, and the metrics store of one run."""

    def __init__(self, config: TrainingConfig) -> None:
        self.config = config
        self.run_id = config.resolved_run_id()
        self.journal = ResultsJournal(config.run_dir / "journal.jsonl")
        self._tracker: OptimizedTrustTracker | None = None
        self._buffer: TrustUpdateBuffer | None = None
        self._metrics: MetricsStore | None = None
        self._metrics_ledger = MetricsLedger()

    def read_back(self) -> tuple[list[RunHeader], list[BatchResult], str | None]:
        """What earlier attempts of this run journalled: their headers, their results, and a repair note."""
        if not self.config.resume:
            raise ConfigError(
                f"run {self.run_id!r} already has a results journal at {self.journal.path}; "
                "pass --resume to continue it or --run-id to start a new run")
        records: list[JournalRecord] = self.journal.read(parse_journal_line, repair=self.config.repair)
        note = None
        if self.journal.dropped:
            note = (f"dropped {len(self.journal.dropped)} damaged journal line(s) "
                    f"({', '.join(map(str, self.journal.dropped[:5]))}); the journal as it was is in "
                    f"{self.journal.saved_copy}")
        headers = [r for r in records if isinstance(r, RunHeader)]
        return headers, [r.result for r in records if isinstance(r, DoneRecord)], note

    def open(self) -> None:
        config = self.config
        self._tracker = OptimizedTrustTracker(config.trust_db_path, prior_alpha=config.prior_alpha,
                                              prior_beta=config.prior_beta,
                                              decay_half_life_days=config.decay_half_life_days)
        self._buffer = TrustUpdateBuffer(self._tracker)
        self._metrics = MetricsStore(config.metrics_db_path, on_stored=self._metrics_ledger.landed)

    def replay(self, results: Iterable[BatchResult]) -> None:
        """Evidence of results read back from the journal: the trust database skips what it holds."""
        for result in results:
            self._buffer.add(result.evidence)

    def begin(self, header: RunHeader) -> None:
        self.journal.append(journal_line(header))

    def done(self, results: Sequence[BatchResult]) -> None:
        """Journal first (durable, one fsync for the group), then trust: a crash after this line loses nothing."""
        self.journal.append_many([journal_line(DoneRecord(result)) for result in results])
        self._buffer.add([block for result in results for block in result.evidence])
        for result in results:
            self._metrics_ledger.expect(result.batch_id, result.metrics_sent)

    def current_trust(self, keys: Sequence[TrustKey]) -> list[TrustEstimate]:
        """Trust of ``keys`` with every outcome so far applied (for the alerts that watch it)."""
        self._buffer.flush()
        return self._tracker.estimates(keys, steps=False)

    def failed(self, batch_id: str, error: str, attempts: int) -> None:
        self.journal.append(journal_line(FailedRecord(batch_id, error, attempts)))

    def receive_metrics(self, chunk: dict) -> None:
        """Queue a chunk of live metrics for the store's writer thread; never blocks."""
        self._metrics.submit_chunk(chunk)

    def wait_for_metrics(self) -> MetricsReport:
        """Metrics travel apart from results: wait (bounded) until what the recorded batches sent has landed."""
        deadline = time.monotonic() + METRICS_WAIT_SECONDS
        ledger = self._metrics_ledger
        while True:
            self._metrics.drain()
            if not ledger.outstanding or time.monotonic() > deadline or self._metrics.error:
                break
            time.sleep(0.05)
        return MetricsReport(sent=ledger.sent, stored=ledger.stored, error=self._metrics.error)

    def closing_steps(self, keys: Sequence[TrustKey],
                      keep_trust: Callable[[list[TrustEstimate]], None]) -> list[Callable[[], object]]:
        """Flush trust, read it back for ``keys`` into ``keep_trust``, close the stores (for :func:`run_every`)."""
        steps: list[Callable[[], object]] = []
        if self._buffer is not None:
            steps += [self._buffer.close, lambda: keep_trust(self._tracker.estimates(keys)), self._tracker.close]
        if self._metrics is not None:
            steps.append(self._metrics.close)
        steps.append(self.journal.close)
        return steps
