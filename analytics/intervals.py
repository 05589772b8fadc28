"""Forecast intervals calibrated by retrodiction: split-conformal quantiles of past forecast errors.

For each horizon step the past errors e = forecast − actual of a model are
the calibration set: the actual is forecast − e, so an interval at level
1 − a runs from forecast − Q(1 − a/2) to forecast − Q(a/2), where Q are the
conformal quantiles of e: the finite-sample rank ⌈(n + 1)(1 − a/2)⌉ among n
errors (with exchangeable errors the interval covers at least 1 − a of new
actuals, and at most 1 − a + 2/(n + 1)); with too few errors for that rank
the bound is infinite. Weights toward recent windows use the weighted
version (Barber et al., 2023, "Conformal prediction beyond
exchangeability"): each error has weight w_i and the new point weight 1.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["conformal_offsets", "recency_weights"]


def conformal_offsets(errors: np.ndarray, levels: tuple[float, ...] = (0.8, 0.95),
                      weights: np.ndarray | None = None) -> np.ndarray:
    """Offsets to add to point forecasts: ``(steps, len(levels), 2)`` of (lower, upper).

    ``errors`` is ``(n, steps)``; NaN marks a point without an error (left
    out). ``weights`` (``(n,)`` or ``(n, steps)``, positive) lean the
    calibration toward some errors, such as recent ones.
    """
    errors = np.asarray(errors, dtype=float)
    if errors.ndim != 2:
        raise ValueError(f"errors must be (origins, steps), got shape {errors.shape}")
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"interval level must be between 0 and 1, got {level}")
    w = np.ones_like(errors) if weights is None else np.broadcast_to(
        np.asarray(weights, dtype=float).reshape(len(errors), -1), errors.shape)
    if np.any(w[np.isfinite(errors)] <= 0):
        raise ValueError("weights must be positive")
    upper = [1 - (1 - level) / 2 for level in levels]
    high_error = _upper_quantiles(errors, w, upper)  # the actual is at least forecast − this
    low_error = -_upper_quantiles(-errors, w, upper)  # and at most forecast − this
    return np.stack([-high_error, -low_error], axis=-1).transpose(1, 0, 2)


def _upper_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> np.ndarray:
    """The weighted conformal quantile of each column at each of ``qs`` (``(len(qs), columns)``): the
    smallest finite value whose cumulative weight, with the new point's weight 1 placed at +infinity,
    reaches q; +infinity if the finite values never do. Non-finite values are left out."""
    finite = np.isfinite(values)
    order = np.argsort(np.where(finite, values, np.inf), axis=0, kind="stable")  # left-out values last
    ordered = np.take_along_axis(values, order, axis=0)
    ordered_weights = np.take_along_axis(np.where(finite, weights, 0.0), order, axis=0)
    cumulative = np.cumsum(ordered_weights, axis=0) / (ordered_weights.sum(axis=0) + 1.0)
    usable = finite.sum(axis=0)
    out = np.full((len(qs), values.shape[1]), math.inf)
    for i, q in enumerate(qs):
        at = (cumulative < q - 1e-12).sum(axis=0)  # searchsorted(side="left") down each column
        found = np.nonzero(at < usable)[0]
        out[i, found] = ordered[at[found], found]
    return out


def recency_weights(times: np.ndarray, half_life: float) -> np.ndarray:
    """Weight 1 for the newest of ``times``, halving every ``half_life`` (same units) before it."""
    if not half_life > 0:
        raise ValueError(f"half-life must be positive, got {half_life}")
    times = np.asarray(times, dtype=float)
    return np.exp2(-(times.max() - times) / half_life) if len(times) else times
