"""Turn batch results and trust into the run summary and the trust table."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

from analytics import TrustEstimate

from .outcomes import BatchResult
from .retrodiction import pool_scores

__all__ = ["summarise", "format_trust_table"]


def _estimate_dict(estimate: TrustEstimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {"mean": estimate.mean, "low": estimate.low, "high": estimate.high, "alpha": estimate.alpha,
            "beta": estimate.beta, "successes": estimate.successes, "failures": estimate.failures,
            "updates": estimate.updates}


def summarise(results: Iterable[BatchResult], trust: Iterable[TrustEstimate]) -> dict[str, Any]:
    """Pooled scores per (variable, model) and per model, with trust, for this run's keys.

    Windows are pooled in time order, so the floating-point sums, and thus the
    summary, do not depend on the order in which batches happened to finish.
    """
    scores = defaultdict(list)
    skipped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for result in sorted(results, key=lambda r: (r.start, r.batch_id)):
        for outcome in result.outcomes:
            key = (outcome.variable, outcome.model)
            if outcome.score is not None:
                scores[key].append(outcome.score)
            else:
                skipped[key].append(f"{result.start[:10]}..{result.end[:10]}: {outcome.reason}")
    estimates = {(e.variable, e.model): e for e in trust}
    per_variable: dict[str, dict[str, Any]] = defaultdict(dict)
    for key in sorted(set(scores) | set(skipped)):
        variable, model = key
        pooled = pool_scores(scores[key]).to_dict() if scores[key] else None
        per_variable[variable][model] = {
            "windows_scored": len(scores[key]),
            "windows_skipped": len(skipped[key]),
            "skipped": skipped[key][:5],
            "scores": pooled,
            "trust": _estimate_dict(estimates.get(key)),
        }
    per_model: dict[str, Any] = {}
    for model in sorted({m for _, m in scores}):
        model_scores = [s for (_, m), group in scores.items() if m == model for s in group]
        model_trust = [estimates[k].mean for k in scores if k[1] == model and k in estimates]
        per_model[model] = {
            "scores": pool_scores(model_scores).to_dict(),
            "mean_trust": sum(model_trust) / len(model_trust) if model_trust else None,
            "variables": len({v for (v, m) in scores if m == model}),
        }
    return {"variables": dict(per_variable), "models": per_model}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_trust_table(summary: dict[str, Any]) -> str:
    """A plain-text table: one row per (variable, model), most trusted model first."""
    header = ("variable", "model", "trust", "95% interval", "succ/fail", "MASE", "skill", "windows")
    rows = []
    for variable, models in sorted(summary["variables"].items()):
        ordered = sorted(models.items(), key=lambda item: -((item[1]["trust"] or {}).get("mean") or 0.0))
        for model, entry in ordered:
            trust, scores = entry["trust"] or {}, entry["scores"] or {}
            interval = f"[{_fmt(trust.get('low'), '.3f')}, {_fmt(trust.get('high'), '.3f')}]" if trust else "-"
            counts = f"{trust['successes']}/{trust['failures']}" if trust else "-"
            windows = f"{entry['windows_scored']}" + (f" (+{entry['windows_skipped']} skipped)"
                                                      if entry["windows_skipped"] else "")
            rows.append((variable, model, _fmt(trust.get("mean"), ".3f"), interval, counts,
                         _fmt(scores.get("mase"), ".3f"), _fmt(scores.get("skill"), "+.3f"), windows))
    if not rows:
        return "no (variable, model) pair was scored"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
