"""Turn batch results and trust into the run summary and the trust table."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Collection, Iterable

from analytics import TrustEstimate

from .outcomes import BatchResult
from .records import ModelSummary, PairSummary
from .retrodiction import pool_scores

if TYPE_CHECKING:
    from .records import RunSummary

__all__ = ["summarise", "format_number", "format_trust_table"]


def summarise(results: Iterable[BatchResult], trust: Iterable[TrustEstimate], keep: Collection[tuple[str, str]],
              ) -> tuple[dict[str, dict[str, PairSummary]], dict[str, ModelSummary], tuple[str, ...]]:
    """Pooled scores per (variable, spec) and per spec, with trust, for the pairs in ``keep``.

    Windows are pooled in time order, and each (window, span, variable, spec)
    once, so the summary does not depend on the order in which batches
    finished or on how a resumed run was batched. A window scored by the
    fallback model pools into the failed model's scores (the trust keeps
    the two apart) and is counted in ``windows_by_fallback``.
    """
    scores = defaultdict(list)
    skipped: dict[tuple[str, str], list[str]] = defaultdict(list)
    failed: dict[tuple[str, str], list[str]] = defaultdict(list)
    fallbacks: dict[tuple[str, str], int] = defaultdict(int)
    results = sorted(results, key=lambda r: (r.start, r.batch_id))
    settled = set().union(*(r.units() for r in results))  # a failure that a resume made good is history
    seen: set[tuple] = set()
    for result in results:
        for outcome in result.outcomes:
            key = (outcome.variable, outcome.model)
            unit = (result.window_index, result.start, result.end, *key)
            if key not in keep or unit in seen or (outcome.status == "failed" and unit in settled):
                continue
            seen.add(unit)
            where = f"{result.start[:10]}..{result.end[:10]}: {outcome.reason}"
            if outcome.status == "failed":
                failed[key].append(where)
            elif outcome.score is None:
                skipped[key].append(where)
            else:
                scores[key].append(outcome.score)
                fallbacks[key] += outcome.status == "fallback"
    estimates = {(e.variable, e.spec): e for e in trust}
    per_variable: dict[str, dict[str, PairSummary]] = defaultdict(dict)
    for key in sorted(set(scores) | set(skipped) | set(failed)):
        variable, spec = key
        per_variable[variable][spec] = PairSummary(
            windows_scored=len(scores[key]), windows_by_fallback=fallbacks[key],
            windows_skipped=len(skipped[key]), windows_failed=len(failed[key]),
            skipped=tuple(skipped[key][:5]), failed=tuple(failed[key][:5]),
            scores=pool_scores(scores[key]) if scores[key] else None, trust=estimates.get(key))
    per_model: dict[str, ModelSummary] = {}
    for spec in sorted({m for _, m in scores}):
        spec_scores = [s for (_, m), group in scores.items() if m == spec for s in group]
        spec_trust = [estimates[k].mean for k in scores if k[1] == spec and k in estimates]
        per_model[spec] = ModelSummary(scores=pool_scores(spec_scores),
                                       mean_trust=sum(spec_trust) / len(spec_trust) if spec_trust else None,
                                       variables=len({v for (v, m) in scores if m == spec}))
    failures = tuple(f"{variable} / {spec} {where}" for (variable, spec), wheres in sorted(failed.items())
                     for where in wheres)
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
