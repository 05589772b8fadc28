"""What a batch task returns: durable, picklable, and round-trippable to JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from analytics import TrustUpdate

from .retrodiction import WindowScore

__all__ = ["VariableOutcome", "BatchResult"]


@dataclass(frozen=True)
class VariableOutcome:
    """One model on one variable in one window: scored, or skipped with a reason."""

    variable: str
    model: str
    status: str  # "scored" or "skipped"
    score: WindowScore | None = None
    reason: str | None = None
    fit_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = None if self.score is None else self.score.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VariableOutcome":
        score = data.get("score")
        return cls(**{**data, "score": None if score is None else WindowScore.from_dict(score)})


@dataclass(frozen=True)
class BatchResult:
    """Everything durable a batch produced, keyed by its batch id."""

    batch_id: str
    start: str
    end: str
    variables: tuple[str, ...]
    outcomes: tuple[VariableOutcome, ...]
    trust_updates: tuple[TrustUpdate, ...]
    metrics_sent: int
    metrics_error: str | None
    processing_time: float
    peak_memory_mib: float
    memory_increase_mib: float
    worker: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcomes"] = [o.to_dict() for o in self.outcomes]
        data["variables"] = list(self.variables)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BatchResult":
        return cls(**{
            **data,
            "variables": tuple(data["variables"]),
            "outcomes": tuple(VariableOutcome.from_dict(o) for o in data["outcomes"]),
            "trust_updates": tuple(TrustUpdate(**u) for u in data["trust_updates"]),
        })
