"""Forecast accuracy scores and the success rule that feeds trust."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Iterable

import numpy as np

__all__ = ["WindowScore", "score_window", "pool_scores", "naive_scale", "success_mask"]


def naive_scale(train: np.ndarray) -> float:
    """In-sample one-step naive MAE: the yardstick for MASE and success."""
    return float(np.mean(np.abs(np.diff(train)))) if len(train) > 1 else math.nan


@dataclass(frozen=True)
class WindowScore:
    """Scores of one model on one variable and window (NaN where undefined)."""

    n: int
    n_origins: int
    mae: float
    rmse: float
    mase: float
    smape: float
    bias: float
    naive_mae: float
    skill: float
    successes: int
    failures: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None. Shallow (every field is a number): ``asdict``'s deep copy made
        journalling an outcome several times slower (bench/bench_coordinator.py)."""
        return {f.name: (None if isinstance(v, float) and math.isnan(v) else v)
                for f in fields(self) for v in (getattr(self, f.name),)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WindowScore":
        return cls(**{k: (math.nan if v is None else v) for k, v in data.items()})


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def success_mask(forecasts: np.ndarray, actuals: np.ndarray, scale: float, tolerance: float) -> np.ndarray:
    """Which points succeed: |error| / scale <= tolerance; with a zero scale
    (a constant training span) only exact forecasts succeed."""
    abs_errors = np.abs(forecasts - actuals)
    return abs_errors / scale <= tolerance if scale > 0 else abs_errors == 0


def score_window(
    forecasts: np.ndarray,
    actuals: np.ndarray,
    naive_forecasts: np.ndarray,
    scale: float,
    tolerance: float,
) -> WindowScore:
    """Score an (origins × horizon) block of forecasts against actuals.

    Successes follow :func:`success_mask`.
    """
    errors = forecasts - actuals
    abs_errors = np.abs(errors)
    denominator = np.abs(actuals) + np.abs(forecasts)
    smape_terms = np.divide(2.0 * abs_errors, denominator, out=np.zeros_like(abs_errors), where=denominator > 0)
    mae = float(abs_errors.mean())
    naive_mae = float(np.abs(naive_forecasts - actuals).mean())
    successes = int(np.count_nonzero(success_mask(forecasts, actuals, scale, tolerance)))
    return WindowScore(
        n=int(errors.size),
        n_origins=int(errors.shape[0]),
        mae=mae,
        rmse=float(np.sqrt(np.mean(errors**2))),
        mase=_ratio(mae, scale),
        smape=float(100.0 * smape_terms.mean()),
        bias=float(errors.mean()),
        naive_mae=naive_mae,
        skill=1.0 - _ratio(mae, naive_mae),
        successes=successes,
        failures=int(errors.size) - successes,
    )


def pool_scores(scores: Iterable[WindowScore]) -> WindowScore:
    """Combine windows as if their forecast points had been scored together.

    Means are weighted by each window's point count; RMSE pools squared
    errors; MASE averages the scaled errors, each window with its own scale.
    """
    scores = list(scores)
    n = np.array([s.n for s in scores], dtype=float)
    total = float(n.sum())

    def weighted(values: Iterable[float]) -> float:
        v = np.array(list(values), dtype=float)
        keep = ~np.isnan(v)
        return float(np.dot(v[keep], n[keep]) / n[keep].sum()) if keep.any() else math.nan

    mae = weighted(s.mae for s in scores)
    naive_mae = weighted(s.naive_mae for s in scores)
    return WindowScore(
        n=int(total),
        n_origins=sum(s.n_origins for s in scores),
        mae=mae,
        rmse=math.sqrt(weighted(s.rmse**2 for s in scores)),
        mase=weighted(s.mase for s in scores),
        smape=weighted(s.smape for s in scores),
        bias=weighted(s.bias for s in scores),
        naive_mae=naive_mae,
        skill=1.0 - _ratio(mae, naive_mae),
        successes=sum(s.successes for s in scores),
        failures=sum(s.failures for s in scores),
    )
