"""A run's records, typed: journal lines, batch outcomes, the summary and the results file.

This is the only module that turns them into JSON and back; the CLI, the
notebook and the benches read attributes, never nested dicts. Every record
carries ``schema`` (:data:`SCHEMA_VERSION`): a reader refuses a newer one
rather than misread it, and a record without one is version 1, the shape
journals had before versions were written.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from analytics import TrustEstimate

from .base import DataError, RetrodictionError, atomic_write_bytes
from .outcomes import BatchResult
from .retrodiction import WindowScore

if TYPE_CHECKING:
    from .batching import TrainingBatch

__all__ = ["SCHEMA_VERSION", "BatchCounts", "BatchOutcome", "BatchStatus", "DoneRecord", "FailedRecord",
           "JournalRecord", "MetricsReport", "ModelSummary", "PairSummary", "RunHeader", "RunResults", "RunSummary",
           "journal_line", "parse_journal_line", "read_results", "results_run_id", "write_results"]

SCHEMA_VERSION = 1


def _check_schema(data: Mapping[str, Any], what: str) -> None:
    version = data.get("schema", 1)
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{what} has an invalid schema version {version!r}")
    if version > SCHEMA_VERSION:  # not damage: a newer tool wrote it; repairing would drop good records
        raise DataError(f"{what} has schema version {version}, newer than this version of the tool "
                        f"reads ({SCHEMA_VERSION}); upgrade recursive-training")


class BatchStatus(str, Enum):
    """A batch's state: the one definition, used by the summary, the results file and the progress."""

    DONE = "done"
    FAILED = "failed"
    NOT_RUN = "not run"


# journal records --------------------------------------------------------------
@dataclass(frozen=True)
class RunHeader:
    """Written each time a run starts or resumes: how its forecasts are made and scored."""

    run_id: str
    procedure: dict[str, Any] | None  # None: written before procedures were recorded
    models: tuple[str, ...]


@dataclass(frozen=True)
class DoneRecord:
    """A batch's result, journalled before anything else uses it."""

    result: BatchResult

    @property
    def batch_id(self) -> str:
        return self.result.batch_id


@dataclass(frozen=True)
class FailedRecord:
    """A batch that failed after its retries; a resume runs it again."""

    batch_id: str
    error: str
    attempts: int


JournalRecord = RunHeader | DoneRecord | FailedRecord


def journal_line(record: JournalRecord) -> dict[str, Any] | str:
    """``record`` as the JSON object of one journal line, or as its text when its worker encoded the result."""
    if isinstance(record, RunHeader):
        return {"schema": SCHEMA_VERSION, "kind": "run", "run_id": record.run_id, "procedure": record.procedure,
                "models": list(record.models)}
    if isinstance(record, DoneRecord):
        if record.result.journal_text is not None:
            return (f'{{"schema":{SCHEMA_VERSION},"batch_id":{json.dumps(record.batch_id)},"status":"done",'
                    f'"result":{record.result.journal_text}}}')
        return {"schema": SCHEMA_VERSION, "batch_id": record.batch_id, "status": "done",
                "result": record.result.to_dict()}
    return {"schema": SCHEMA_VERSION, "batch_id": record.batch_id, "status": "failed", "error": record.error,
            "attempts": record.attempts}


def parse_journal_line(data: dict[str, Any]) -> JournalRecord:
    """One journal line read back whole; a line of the wrong shape raises ValueError (or KeyError, TypeError)."""
    _check_schema(data, "journal record")
    if data.get("kind") == "run":
        if not isinstance(data.get("run_id"), str) or not isinstance(data.get("procedure", {}), dict):
            raise ValueError("a run header without its run id")
        return RunHeader(data["run_id"], data.get("procedure"), tuple(data.get("models", ())))
    if not isinstance(data.get("batch_id"), str):
        raise ValueError("a record without a batch id")
    if data.get("status") == "done":
        return DoneRecord(BatchResult.from_dict(data["result"]))
    if data.get("status") == "failed":
        return FailedRecord(data["batch_id"], str(data.get("error")), int(data.get("attempts", 0)))
    raise ValueError(f"unknown status {data.get('status')!r}")


# the results file ----------------------------------------------------------------
@dataclass(frozen=True)
class BatchOutcome:
    """A batch as the results file reports it; ``resumed``: its result was read back from the journal."""

    batch_id: str
    start: str
    end: str
    variables: tuple[str, ...]
    models: tuple[str, ...]
    status: BatchStatus
    resumed: bool = False
    error: str | None = None
    attempts: int = 0
    result: BatchResult | None = None

    @classmethod
    def of_batch(cls, batch: "TrainingBatch", models: tuple[str, ...], attempts: int) -> "BatchOutcome":
        return cls(batch.batch_id, batch.start_time.isoformat(), batch.end_time.isoformat(), batch.variables,
                   batch.models or models, batch.status, False, batch.error, attempts, batch.result)

    @classmethod
    def of_resumed(cls, result: BatchResult) -> "BatchOutcome":
        return cls(result.batch_id, result.start, result.end, result.variables,
                   tuple(sorted({o.model for o in result.outcomes})), BatchStatus.DONE, True, None, 0, result)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(variables=list(self.variables), models=list(self.models), status=self.status.value,
                    result=None if self.result is None else self.result.to_dict())
        return data

    def to_json(self, result_text: str | None = None) -> str:
        """This outcome as JSON text; ``result_text`` is its result already as JSON (see
        :attr:`BatchResult.slim_text`), so a results file is written without parsing any result."""
        text = json.dumps(self.to_dict(), allow_nan=False)
        if result_text is None:
            return text
        if self.result is not None:
            raise ValueError(f"batch {self.batch_id}: a result text for an outcome that holds its result")
        return f"{text[:-len('null}')]}{result_text}}}"  # result is the last field, and None in ``text``

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BatchOutcome":
        result = data.get("result")
        return cls(**{**data, "variables": tuple(data["variables"]), "models": tuple(data["models"]),
                      "status": BatchStatus(data["status"]),
                      "result": None if result is None else BatchResult.from_dict(result)})


@dataclass(frozen=True)
class BatchCounts:
    total: int
    completed: int
    resumed: int
    failed: int
    not_run: int


@dataclass(frozen=True)
class MetricsReport:
    """Live metrics: how many the batches sent, how many reached the store, and why not, if not."""

    sent: int = 0
    stored: int = 0
    error: str | None = None


@dataclass(frozen=True)
class PairSummary:
    """One (variable, model spec): its pooled scores, its trust, and the windows it did not score."""

    windows_scored: int
    windows_by_fallback: int
    windows_skipped: int
    windows_failed: int
    skipped: tuple[str, ...]
    failed: tuple[str, ...]
    scores: WindowScore | None
    trust: TrustEstimate | None

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "skipped": list(self.skipped),
                "failed": list(self.failed), "scores": None if self.scores is None else self.scores.to_dict(),
                "trust": None if self.trust is None else self.trust.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PairSummary":
        return cls(**{**data, "skipped": tuple(data["skipped"]), "failed": tuple(data["failed"]),
                      "scores": None if data["scores"] is None else WindowScore.from_dict(data["scores"]),
                      "trust": None if data["trust"] is None else TrustEstimate.from_dict(data["trust"])})


@dataclass(frozen=True)
class ModelSummary:
    """One model spec over every variable it scored."""

    scores: WindowScore
    mean_trust: float | None
    variables: int

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores.to_dict(), "mean_trust": self.mean_trust, "variables": self.variables}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSummary":
        return cls(WindowScore.from_dict(data["scores"]), data["mean_trust"], data["variables"])


@dataclass(frozen=True)
class RunSummary:
    """What a run did and found: counts, timings, and per (variable, spec) scores and trust.

    ``variables[variable][spec]`` is a :class:`PairSummary`; ``per_model``
    pools each spec over its variables. ``str()`` gives the trust table.
    """

    run_id: str
    store: str
    start: str | None
    end: str | None
    models: tuple[str, ...]
    schedule: str
    context: str
    batches: BatchCounts
    failed_batches: tuple[BatchOutcome, ...]
    elapsed_seconds: float
    timings: dict[str, float]
    compute_seconds: float
    warnings: tuple[str, ...]
    peak_memory_mib: float | None
    metrics: MetricsReport
    dashboard_link: str | None
    scheduler_lost: str | None
    trust_db: str
    variables: dict[str, dict[str, PairSummary]] = field(default_factory=dict)
    per_model: dict[str, ModelSummary] = field(default_factory=dict)
    failed_models: tuple[str, ...] = ()
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(
            models=list(self.models), batches=asdict(self.batches), warnings=list(self.warnings),
            failed_batches=[b.to_dict() for b in self.failed_batches], metrics=asdict(self.metrics),
            timings=dict(self.timings), failed_models=list(self.failed_models),
            variables={v: {s: pair.to_dict() for s, pair in specs.items()} for v, specs in self.variables.items()},
            per_model={s: m.to_dict() for s, m in self.per_model.items()})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunSummary":
        _check_schema(data, "summary")
        return cls(**{
            **data, "models": tuple(data["models"]), "batches": BatchCounts(**data["batches"]),
            "failed_batches": tuple(BatchOutcome.from_dict(b) for b in data["failed_batches"]),
            "warnings": tuple(data["warnings"]), "metrics": MetricsReport(**data["metrics"]),
            "failed_models": tuple(data["failed_models"]),
            "variables": {v: {s: PairSummary.from_dict(p) for s, p in specs.items()}
                          for v, specs in data["variables"].items()},
            "per_model": {s: ModelSummary.from_dict(m) for s, m in data["per_model"].items()},
        })

    def __str__(self) -> str:
        from .summary import format_trust_table

        counts = self.batches
        return (f"run {self.run_id}: {counts.completed} of {counts.total} batches done, {counts.failed} failed, "
                f"{counts.not_run} not run\n{format_trust_table(self)}")


@dataclass(frozen=True)
class RunResults:
    """The results file: the run's configuration, its summary, and every batch's outcome."""

    config: dict[str, Any]
    summary: RunSummary
    batches: tuple[BatchOutcome, ...]
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "config": self.config, "summary": self.summary.to_dict(),
                "batches": [b.to_dict() for b in self.batches]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunResults":
        _check_schema(data, "results file")
        return cls(dict(data["config"]), RunSummary.from_dict(data["summary"]),
                   tuple(BatchOutcome.from_dict(b) for b in data["batches"]))


def write_results(path: str | os.PathLike[str], config: Mapping[str, Any], summary: RunSummary,
                  batches: Iterable[str]) -> Path:
    """Write a results file atomically (a reader sees the old file or the new one, never half).

    ``batches`` are the batches' outcomes as JSON text (:meth:`BatchOutcome.to_json`), written one by one
    as they come, so a run of 100,000 batches never holds them all.
    """
    target = Path(path)

    def pieces() -> Iterator[bytes]:
        head = {"schema": SCHEMA_VERSION, "config": config, "summary": summary.to_dict()}
        yield json.dumps(head, indent=1, allow_nan=False)[:-2].encode() + b',\n "batches": ['
        for i, batch in enumerate(batches):
            yield (b"\n  " if i == 0 else b",\n  ") + batch.encode()
        yield b"\n ]\n}"

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, pieces())
    except OSError as exc:
        raise RetrodictionError(f"cannot write results to {target}: {exc}") from None
    return target


def read_results(path: str | os.PathLike[str]) -> RunResults:
    """A results file read back; one that is damaged or not ours is a DataError naming it."""
    try:
        return RunResults.from_dict(json.loads(Path(path).read_text()))
    except OSError as exc:
        raise DataError(f"cannot read results {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a results file of this tool ({type(exc).__name__}: {exc})") from None


def results_run_id(path: str | os.PathLike[str]) -> str | None:
    """The run id a results file was written by (None if it is not one of ours)."""
    try:
        return json.loads(Path(path).read_text())["summary"]["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
