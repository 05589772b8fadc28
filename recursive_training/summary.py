"""Turn batch results and trust into the run summary and the trust table."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Collection, Iterable

from analytics import TrustEstimate

from .outcomes import BatchResult
from .records import ModelSummary, PairSummary
from .retrodiction import ScorePool

if TYPE_CHECKING:
    from .records import RunSummary

__all__ = ["RunTally", "format_number", "format_trust_table"]

SHOWN_WINDOWS = 5  # skipped or failed windows a pair's summary names


@dataclass(slots=True)
class _PairTally:
    """One (variable, spec) so far: its pooled scores, its window counts, and the windows it did not score."""

    pool: ScorePool = field(default_factory=ScorePool)
    scored: int = 0
    by_fallback: int = 0
    skipped: int = 0
    first_skipped: list[tuple[tuple[str, str], str]] = field(default_factory=list)  # the earliest few
    failed: dict[tuple, tuple[tuple[str, str], str]] = field(default_factory=dict)  # unit -> (when, where)

    def skip(self, when: tuple[str, str], where: str) -> None:
        self.skipped += 1
        bisect.insort(self.first_skipped, (when, where))
        del self.first_skipped[SHOWN_WINDOWS:]


def _in_time_order(entries: Iterable[tuple[tuple[str, str], str]]) -> list[str]:
    return [where for _, where in sorted(entries)]


class RunTally:
    """The summary's numbers, gathered as each batch's result arrives; nothing of a result is kept.

    A run of 100,000 batches cannot hold its results until the end. Per
    (variable, spec) the tally keeps a :class:`ScorePool` (exact sums, so
    the summary does not depend on the order batches finished in or on how
    a resumed run was batched), counts, the earliest skipped windows, and
    its failed windows (few) until a later attempt scores them. A window
    scored by the fallback model pools into the failed model's scores (the
    trust keeps the two apart) and is counted in ``windows_by_fallback``.
    Each (window, span, variable, spec) arrives once: a resume plans only
    the units its journal lacks, and the coordinator records a batch once.
    """

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], _PairTally] = {}

    def add(self, result: BatchResult) -> None:
        when = (result.start, result.batch_id)  # windows are listed in time order
        span = f"{result.start[:10]}..{result.end[:10]}"
        unit = (result.window_index, result.start, result.end)
        for outcome in result.outcomes:
            key = (outcome.variable, outcome.model)
            pair = self._pairs.get(key)
            if pair is None:
                pair = self._pairs[key] = _PairTally()
            where = f"{span}: {outcome.reason}"
            if outcome.status == "failed":
                pair.failed[unit] = (when, where)
                continue
            pair.failed.pop(unit, None)  # a failure that a resume made good is history
            if outcome.score is None:
                pair.skip(when, where)
            else:
                pair.pool.add(outcome.score)
                pair.scored += 1
                pair.by_fallback += outcome.status == "fallback"

    def summarise(self, trust: Iterable[TrustEstimate], keep: Collection[tuple[str, str]],
                  ) -> tuple[dict[str, dict[str, PairSummary]], dict[str, ModelSummary], tuple[str, ...]]:
        """Pooled scores per (variable, spec) and per spec, with trust, for the pairs in ``keep``."""
        estimates = {(e.variable, e.spec): e for e in trust}
        pairs = {key: pair for key, pair in sorted(self._pairs.items())
                 if key in keep and (pair.scored or pair.skipped or pair.failed)}
        per_variable: dict[str, dict[str, PairSummary]] = defaultdict(dict)
        for (variable, spec), pair in pairs.items():
            per_variable[variable][spec] = PairSummary(
                windows_scored=pair.scored, windows_by_fallback=pair.by_fallback, windows_skipped=pair.skipped,
                windows_failed=len(pair.failed), skipped=tuple(_in_time_order(pair.first_skipped)),
                failed=tuple(_in_time_order(pair.failed.values())[:SHOWN_WINDOWS]),
                scores=pair.pool.pooled() if pair.scored else None, trust=estimates.get((variable, spec)))
        per_model: dict[str, ModelSummary] = {}
        for spec in sorted({s for (_, s), pair in pairs.items() if pair.scored}):
            scored = [(key, pair) for key, pair in pairs.items() if key[1] == spec and pair.scored]
            pool = ScorePool()
            for _, pair in scored:
                pool.merge(pair.pool)
            spec_trust = [estimates[key].mean for key, _ in scored if key in estimates]
            per_model[spec] = ModelSummary(scores=pool.pooled(),
                                           mean_trust=sum(spec_trust) / len(spec_trust) if spec_trust else None,
                                           variables=len(scored))
        failures = tuple(f"{variable} / {spec} {where}" for (variable, spec), pair in pairs.items()
                         for where in _in_time_order(pair.failed.values()))
        return dict(per_variable), per_model, failures


def format_number(value: float | None, spec: str = ".3f") -> str:
    """A number for a table, or "-" where there is none (None or NaN)."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_trust_table(summary: "RunSummary") -> str:
    """A plain-text table: one row per (variable, model spec), most trusted first, under its context."""
    header = ("variable", "model", "trust", "95% interval", "succ/fail", "deff", "MASE", "skill", "windows")
    rows = []
    for variable, pairs in sorted(summary.variables.items()):
        ordered = sorted(pairs.items(), key=lambda item: -(item[1].trust.mean if item[1].trust else 0.0))
        for model, pair in ordered:
            trust, scores = pair.trust, pair.scores
            interval = f"[{format_number(trust.low, '.3f')}, {format_number(trust.high, '.3f')}]" if trust else "-"
            counts = f"{trust.successes}/{trust.failures}" if trust else "-"
            notes = [f"{count} {label}" for count, label in
                     ((pair.windows_by_fallback, "by fallback"), (pair.windows_skipped, "skipped"),
                      (pair.windows_failed, "failed")) if count]
            windows = f"{pair.windows_scored}" + (f" ({', '.join(notes)})" if notes else "")
            rows.append((variable, model, format_number(trust and trust.mean), interval, counts,
                         format_number(trust and trust.design_effect, ".1f"), format_number(scores and scores.mase),
                         format_number(scores and scores.skill, "+.3f"), windows))
    if not rows:
        return "no (variable, model) pair was scored"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if summary.context:
        lines.insert(0, f"scored by {summary.context}; trained by {summary.schedule}")
    return "\n".join(lines)
