"""Forecast accuracy scores and the success rule that feeds trust."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Iterable

import numpy as np

__all__ = ["WindowScore", "ScorePool", "score_window", "pool_scores", "naive_scale", "success_mask"]


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
    with np.errstate(invalid="ignore"):  # an infinite forecast is inf / inf here: its term is sMAPE's bound, 2
        smape_terms = np.divide(2.0 * abs_errors, denominator, out=np.zeros_like(abs_errors), where=denominator > 0)
    smape_terms[np.isinf(abs_errors) & np.isinf(denominator)] = 2.0
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


_POOLED = ("mae", "rmse", "mase", "smape", "bias", "naive_mae")  # point-weighted means (rmse: of squares)
_EXPONENT_BITS = 1074  # every finite float is an integer multiple of 2**-1074


class ScorePool:
    """Windows pooled as they arrive, as if their forecast points had been scored together.

    Means are weighted by each window's point count (each metric over the
    windows where it is defined); RMSE pools squared errors; MASE averages
    the scaled errors, each window with its own scale. The weighted sums are
    exact (each term an integer multiple of the smallest float, summed as a
    Python integer, divided once at the end), so the pooled score does not
    depend on the order the windows arrive in, and a pool costs the same
    however many windows it holds.
    """

    __slots__ = ("n", "n_origins", "successes", "failures", "_sums", "_weights", "_infinite")

    def __init__(self) -> None:
        self.n = self.n_origins = self.successes = self.failures = 0
        self._sums = [0] * len(_POOLED)  # in the order of _POOLED
        self._weights = [0] * len(_POOLED)
        self._infinite = [0.0] * len(_POOLED)  # infinite terms, which no integer holds

    def add(self, score: WindowScore) -> "ScorePool":
        n = score.n
        self.n += n
        self.n_origins += score.n_origins
        self.successes += score.successes
        self.failures += score.failures
        terms = (score.mae, score.rmse * score.rmse, score.mase, score.smape, score.bias, score.naive_mae)
        for i, term in enumerate(terms):
            if term == term:  # not NaN
                term *= n
                if math.isfinite(term):
                    numerator, denominator = term.as_integer_ratio()  # denominator: a power of two
                    self._sums[i] += numerator << (_EXPONENT_BITS + 1 - denominator.bit_length())
                else:
                    self._infinite[i] += term
                self._weights[i] += n
        return self

    def merge(self, other: "ScorePool") -> "ScorePool":
        """Pool ``other``'s windows into this one (a spec over all its variables)."""
        self.n += other.n
        self.n_origins += other.n_origins
        self.successes += other.successes
        self.failures += other.failures
        for mine, theirs in ((self._sums, other._sums), (self._weights, other._weights),
                             (self._infinite, other._infinite)):
            mine[:] = [a + b for a, b in zip(mine, theirs)]
        return self

    def pooled(self) -> WindowScore:
        mae, rmse_squared, mase, smape, bias, naive_mae = (
            math.nan if not weight else infinite / weight if infinite  # inf (or NaN), as a plain sum gives
            else total / (weight << _EXPONENT_BITS)  # integers divided: correctly rounded, once
            for total, weight, infinite in zip(self._sums, self._weights, self._infinite))
        return WindowScore(
            n=self.n, n_origins=self.n_origins, mae=mae, rmse=math.sqrt(rmse_squared), mase=mase, smape=smape,
            bias=bias, naive_mae=naive_mae, skill=1.0 - _ratio(mae, naive_mae), successes=self.successes,
            failures=self.failures)


def pool_scores(scores: Iterable[WindowScore]) -> WindowScore:
    """Combine windows as if their forecast points had been scored together (see :class:`ScorePool`)."""
    pool = ScorePool()
    for score in scores:
        pool.add(score)
    return pool.pooled()
