"""Forecast jobs the web API starts: run one at a time in the background, kept on disk under
OUTPUT_DIR/forecasts/ so a job's outcome outlives the server that ran it."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..base import RetrodictionError, UnknownForecastError, atomic_write_bytes, one_line

__all__ = ["ForecastJobs", "ForecastRequest", "JOB_ID"]

logger = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class ForecastRequest:
    """What a client may ask for: never a path (the store is the named run's)."""

    horizon: int
    run_id: str | None = None  # whose store and schedule (default: the newest run)
    variables: tuple[str, ...] = ()
    model: str | None = None
    select: str = "trust-low"
    min_origins: int = 20
    interval_half_life_days: float | None = None


class ForecastJobs:
    """Submit a forecast job, read its state; jobs run one after another on a single background thread."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.directory = output_dir / "forecasts"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-job")
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, request: ForecastRequest, store: Path) -> str:
        """Start a job forecasting from ``store``; its id at once (its state says when it is done)."""
        job_id = uuid.uuid4().hex[:16]
        with self._lock:
            self._active.add(job_id)
        self._save(job_id, {"id": job_id, "status": "queued", "created": _now(), "request": asdict(request)})
        self._pool.submit(self._run, job_id, request, store)
        return job_id

    def get(self, job_id: str) -> dict[str, Any]:
        """The job's state; once done, with its forecast rows."""
        if not JOB_ID.match(job_id):
            raise UnknownForecastError(f"no forecast {job_id!r}")
        path = self.directory / f"{job_id}.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise UnknownForecastError(f"no forecast {job_id!r}") from None
        with self._lock:
            orphaned = state["status"] in ("queued", "running") and job_id not in self._active
        if orphaned:
            state.update(status="failed", error="the server stopped before the job finished")
        if state["status"] == "done":
            import pandas as pd

            frame = pd.read_csv(self.directory / f"{job_id}.csv")
            state["forecasts"] = json.loads(frame.to_json(orient="records"))
        return state

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str, request: ForecastRequest, store: Path) -> None:
        from ..forecasting import forecast_with_trusted_models

        state = {"id": job_id, "request": asdict(request)}
        try:
            state = json.loads((self.directory / f"{job_id}.json").read_text())
            self._save(job_id, {**state, "status": "running", "started": _now()})
            report = forecast_with_trusted_models(
                store, request.horizon, self.directory / f"{job_id}.csv", output_dir=self.output_dir,
                variables=request.variables, model=request.model, select=request.select,
                min_origins=request.min_origins, interval_half_life_days=request.interval_half_life_days)
            if report.chosen:
                outcome = {"status": "done", "rows": len(report.frame)}
            else:
                outcome = {"status": "failed", "error": "no variable could be forecast"}
            outcome.update(chosen={v: {"model": spec, "model_id": mid} for v, (spec, mid) in report.chosen.items()},
                           skipped=report.skipped, notes=report.notes)
        except (RetrodictionError, OSError) as exc:
            outcome = {"status": "failed", "error": one_line(exc)}
        except Exception as exc:  # a job's own failure must not take the server down; it is reported
            logger.exception("forecast job %s failed", job_id)
            outcome = {"status": "failed", "error": f"internal error: {one_line(exc)}"}
        try:
            self._save(job_id, {**state, **outcome, "finished": _now()})
        finally:  # only now: a reader between the two would take the job for one a dead server left
            with self._lock:
                self._active.discard(job_id)

    def _save(self, job_id: str, state: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.directory / f"{job_id}.json", json.dumps(state, indent=1).encode())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
