"""What a batch task returns: durable, picklable, and round-trippable to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from analytics import EvidenceBlock, pack_evidence, unpack_evidence

from .journal import json_line
from .retrodiction import WindowScore

__all__ = ["VariableOutcome", "BatchResult"]


@dataclass(frozen=True)
class VariableOutcome:
    """One model spec on one variable in one window.

    ``status``: "scored"; "skipped" (too little data, with the reason);
    "failed" (the model raised: ``reason`` is its error); or "fallback" (the
    model raised and ``fallback`` scored in its place).
    """

    variable: str
    model: str  # the spec's canonical id
    status: str
    score: WindowScore | None = None
    reason: str | None = None
    fit_seconds: float = 0.0
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: see WindowScore.to_dict
        data["score"] = None if self.score is None else self.score.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VariableOutcome":
        score = data.get("score")
        return cls(**{**data, "score": None if score is None else WindowScore.from_dict(score)})


@dataclass(frozen=True)
class BatchResult:
    """Everything durable a batch produced; its evidence is identified by key and origin, not by batch."""

    batch_id: str
    start: str
    end: str
    window_index: int
    variables: tuple[str, ...]
    outcomes: tuple[VariableOutcome, ...]
    evidence: tuple[EvidenceBlock, ...]
    metrics_sent: int
    metrics_error: str | None
    processing_time: float
    peak_memory_mib: float
    memory_increase_mib: float
    worker: str
    # this result as JSON, whole for the journal and without its evidence for the results file, made by
    # :meth:`encoded` on the worker so that a coordinator of a thousand workers only writes them; not init
    # fields, so replace() (a renamed or slimmed copy) never carries a stale text
    journal_text: str | None = field(default=None, init=False, compare=False, repr=False)
    slim_text: str | None = field(default=None, init=False, compare=False, repr=False)

    def encoded(self) -> "BatchResult":
        data = self.to_dict()
        object.__setattr__(self, "journal_text", json_line(data))
        object.__setattr__(self, "slim_text", json_line({**data, "evidence": []}))
        return self

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled with its evidence packed together (:func:`analytics.pack_evidence`): how a result crosses
        from a worker, unpacked on the coordinator in a few numpy calls instead of two per block."""
        init = {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name != "evidence"}
        return (_unpickled_result, (init, pack_evidence(self.evidence), self.journal_text, self.slim_text))

    def slim_json(self) -> str:
        """This result without its evidence as JSON: the text its worker made, or made now."""
        return self.slim_text if self.slim_text is not None else json_line(self.without_evidence().to_dict())

    def without_evidence(self) -> "BatchResult":
        """What the coordinator keeps once the evidence is journalled and applied: the per-origin arrays
        are most of a result's size, and the journal and the trust database hold them."""
        return replace(self, evidence=())

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        data["outcomes"] = [o.to_dict() for o in self.outcomes]
        data["evidence"] = [e.to_dict() for e in self.evidence]
        data["variables"] = list(self.variables)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BatchResult":
        return cls(**{
            **data,
            "variables": tuple(data["variables"]),
            "outcomes": tuple(VariableOutcome.from_dict(o) for o in data["outcomes"]),
            "evidence": tuple(EvidenceBlock.from_dict(e) for e in data["evidence"]),
        })

    def units(self) -> set[tuple[int, str, str, str, str]]:
        """(window, span start, span end, variable, spec) this batch settled; a failed one is tried again."""
        return {(self.window_index, self.start, self.end, o.variable, o.model) for o in self.outcomes
                if o.status != "failed"}


def _unpickled_result(init: dict[str, Any], evidence: tuple[Any, ...], journal_text: str | None,
                      slim_text: str | None) -> BatchResult:
    """The result :meth:`BatchResult.__reduce__` pickled, with the texts its worker made."""
    result = BatchResult(**init, evidence=unpack_evidence(evidence))
    object.__setattr__(result, "journal_text", journal_text)
    object.__setattr__(result, "slim_text", slim_text)
    return result
