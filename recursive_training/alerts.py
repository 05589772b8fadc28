"""Alerts during a run, evaluated on the coordinator: the original orchestrator's monitoring.

Each firing alert is one log line (logger ``recursive_training.alerts``;
the command line shows it as ``alert: ...``) and, when the rules name a
webhook, one JSON POST to it, sent from a thread of its own so a slow or
dead endpoint never holds up the run. An alert fires once per occurrence:
the failure rate once when it first rises above its limit, a slow batch,
a lost worker, a worker's memory each time it crosses its limit from
below, a watched trust each time it drops below its value.
"""

from __future__ import annotations

import bisect
import json
import logging
import queue
import threading
import time
import urllib.request
from typing import Any

from analytics import TrustEstimate

from .alert_rules import AlertRules
from .base import one_line

__all__ = ["AlertMonitor", "ClusterWatch"]

logger = logging.getLogger(__name__)

MIN_BATCHES = 5  # finished batches before a failure rate or a median batch time is judged
WEBHOOK_TIMEOUT_SECONDS = 5.0


class AlertMonitor:
    """Evaluates a run's :class:`AlertRules` as outcomes arrive; thread-safe."""

    def __init__(self, rules: AlertRules, run_id: str) -> None:
        self.rules, self.run_id = rules, run_id
        self.fired: list[dict[str, Any]] = []
        self._durations: list[float] = []  # sorted, for the median (slow_batch_factor only)
        self._succeeded = 0
        self._failed = 0
        self._failure_rate_fired = False
        self._over_memory: set[str] = set()
        self._below_trust: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, name="alert-webhook", daemon=True)

    # what the coordinator reports -------------------------------------------
    def batch_finished(self, batch_id: str, worker: str, seconds: float | None, failed: bool) -> None:
        rules = self.rules
        with self._lock:
            slow_limit = None
            if failed:
                self._failed += 1
            elif seconds is not None:
                self._succeeded += 1
                if rules.slow_batch_factor:  # kept sorted: a median per batch stays cheap at 100,000 batches
                    if len(self._durations) >= MIN_BATCHES:
                        slow_limit = rules.slow_batch_factor * _median(self._durations)
                    bisect.insort(self._durations, seconds)
            failures, finished = self._failed, self._succeeded + self._failed
            rate = failures / finished
            crossed = (rules.failure_rate is not None and not self._failure_rate_fired and finished >= MIN_BATCHES
                       and rate > rules.failure_rate)
            self._failure_rate_fired |= crossed
        if slow_limit is not None and seconds > slow_limit:
            self.fire("slow_batch", f"batch {batch_id} took {seconds:.1f} s on {worker}, over "
                                    f"{rules.slow_batch_factor:g}x the median ({slow_limit:.1f} s)",
                      batch_id=batch_id, worker=worker, seconds=seconds, limit_seconds=slow_limit)
        if crossed:
            self.fire("failure_rate", f"{failures} of {finished} batches failed ({rate:.0%}), over "
                                      f"{rules.failure_rate:.0%}", failed=failures, finished=finished, rate=rate)

    def worker_removed(self, worker: str, expected: bool, running: int) -> None:
        """A worker left; it is lost unless it left as planned with nothing running."""
        if self.rules.worker_lost and (not expected or running):
            self.fire("worker_lost", f"worker {worker} was lost" + (f" with {running} batch(es) assigned to it"
                                                                   if running else ""),
                      worker=worker, running=running)

    def worker_memory(self, worker: str, used: int, limit: int) -> None:
        fraction = self.rules.worker_memory_fraction
        if fraction is None or not limit:
            return
        if self._crossed(self._over_memory, worker, used > fraction * limit):
            self.fire("worker_memory", f"worker {worker} uses {used / 2**20:.0f} MiB, over {fraction:.0%} of its "
                                       f"{limit / 2**20:.0f} MiB limit", worker=worker, used=used, limit=limit)

    def trust(self, estimates: list[TrustEstimate]) -> None:
        """The latest trust of the watched pairs (the coordinator reads it at most once a second)."""
        limits = {(w.variable, w.model): w.below for w in self.rules.trust}
        for estimate in estimates:
            pair = (estimate.key.variable, estimate.key.spec)
            if pair not in limits:
                continue
            if self._crossed(self._below_trust, pair, estimate.mean < limits[pair]):
                self.fire("trust", f"trust of {pair[1]} for {pair[0]} fell to {estimate.mean:.3f}, below "
                                   f"{limits[pair]:g}", variable=pair[0], model=pair[1], trust=estimate.mean,
                          below=limits[pair])

    def _crossed(self, beyond: set, key: Any, now: bool) -> bool:
        """Whether ``key`` has just gone beyond its limit (``now``, and not before); ``beyond`` remembers."""
        with self._lock:
            crossed = now and key not in beyond
            (beyond.add if now else beyond.discard)(key)
            return crossed

    # telling -----------------------------------------------------------------
    def fire(self, kind: str, message: str, **details: Any) -> None:
        alert = {"run_id": self.run_id, "alert": kind, "message": message, "time": time.time(), **details}
        with self._lock:
            self.fired.append(alert)
        logger.warning("%s", message)
        if self.rules.webhook:
            self._outbox.put(alert)
            with self._lock:
                if not self._sender.is_alive() and not self._sender.ident:  # started by the first alert
                    self._sender.start()

    def _send_all(self) -> None:
        while (alert := self._outbox.get()) is not None:
            request = urllib.request.Request(self.rules.webhook, data=json.dumps(alert).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS):
                    pass
            except Exception as exc:  # an alert that cannot be delivered must not end the run
                logger.warning("could not send the %s alert to %s: %s", alert["alert"], self.rules.webhook,
                               one_line(exc))

    def close(self) -> None:
        """Deliver what is queued (each POST bounded by its timeout), then stop the sender."""
        if self._sender.is_alive():
            self._outbox.put(None)
            self._sender.join(WEBHOOK_TIMEOUT_SECONDS * (1 + self._outbox.qsize()))


def _median(ordered: list[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class ClusterWatch:
    """Feeds a monitor from a Dask cluster: lost workers from the scheduler's events, memory every second."""

    TOPIC = "all"  # where the scheduler announces every worker it removes

    def __init__(self, monitor: AlertMonitor, client: Any, interval: float = 1.0) -> None:
        self.monitor, self.client, self.interval = monitor, client, interval
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        if monitor.rules.worker_lost:
            client.subscribe_topic(self.TOPIC, self._event)
        if monitor.rules.worker_memory_fraction is not None:
            self._poller = threading.Thread(target=self._poll, name="alert-memory", daemon=True)
            self._poller.start()

    def _event(self, event: tuple[float, dict]) -> None:
        message = event[1]
        if message.get("action") == "remove-worker":
            self.monitor.worker_removed(message.get("worker", "?"), bool(message.get("expected")),
                                        len(message.get("processing-tasks") or ()))

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                workers = self.client.scheduler_info(n_workers=-1)["workers"]
            except Exception:  # the cluster is going away; the run reports that itself
                return
            for address, info in workers.items():
                self.monitor.worker_memory(address, int(info.get("metrics", {}).get("memory", 0)),
                                           int(info.get("memory_limit") or 0))

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)
        if self.monitor.rules.worker_lost and self.client.status == "running":
            self.client.unsubscribe_topic(self.TOPIC)

