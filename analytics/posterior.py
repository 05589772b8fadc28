"""Beta posteriors whose credible intervals account for dependent evidence.

Forecast points are not independent trials: the steps of one origin share
their origin, neighbouring origins share most of their data, and every point
of a window shares the window's fitted model and error scale. Treating each
point as a Bernoulli trial makes intervals several times too narrow.

The interval here uses a design effect (Kish): the variance of the success
rate is estimated from the residuals of whole grid windows, divided by the
binomial variance of the same number of points, and the posterior is
``Beta(α₀ + s/d, β₀ + f/d)``: the evidence counts as ``n/d`` independent
points. Windows are the units of the variance because everything inside one
shares a fitted model and an error scale. Neighbouring windows are linked
too: their training spans overlap, a window's errors feed the error scale of
the windows after it (which makes their rates move in opposite directions),
and long horizons reach into the next window. So the window residuals enter
a long-run variance with their autocovariances up to ``LAGS`` windows apart
(a truncated kernel), each corrected for the bias that estimating the mean
puts into it. With G windows that variance is itself uncertain, so ``d`` is
widened by ``(t_ν / z)²`` with ``ν = (G - 1) / (1 + LAGS / 2)`` degrees of
freedom. The variance is never taken below ``MIN_DESIGN_EFFECT`` of the
binomial one before that widening, so a few windows that happen to agree
cannot collapse the interval. With one window the clusters are runs of
consecutive origins as long as the horizon, which capture the dependence
between steps and neighbouring origins but cannot see how windows differ.
bench/bench_calibration.py shows the coverage on simulated series with known
rates.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = ["PosteriorSummary", "design_effect", "design_effects", "dependent_posterior", "dependent_posteriors",
           "beta_interval", "load_quantiles_in_background", "LAGS", "MIN_DESIGN_EFFECT"]

Z_975 = 1.959963984540054  # the standard normal's 97.5% quantile (scipy.special.ndtri(0.975))
LAGS = 2  # windows this far apart still share training data or targets
MIN_DESIGN_EFFECT = 0.25  # windows may agree more than independent points would, but not without bound


@dataclass(frozen=True)
class PosteriorSummary:
    successes: float  # weighted
    points: float  # weighted
    design_effect: float
    alpha: float
    beta: float


def design_effect(x: np.ndarray, weight: np.ndarray, cluster: np.ndarray) -> float:
    """Long-run variance of the weighted success rate over its binomial variance, from cluster residuals.

    ``x`` are 0/1 outcomes, ``weight`` their (decay) weights, ``cluster``
    an integer label per point: its grid window (or origin block), so labels
    ``l`` apart are ``l`` windows apart. Returns 1 when the rate is 0 or 1 or
    there is a single cluster.
    """
    return float(design_effects(x[:, None], weight[:, None], cluster)[0])


def design_effects(x: np.ndarray, weight: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """:func:`design_effect` of each column of ``x`` and ``weight`` (points by columns), all sharing the
    points' ``cluster`` labels: the horizon steps of one key in one pass instead of one call per step."""
    columns = x.shape[1]
    total = weight.sum(axis=0)
    effects = np.ones(columns)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.einsum("ij,ij->j", weight, x) / total
    live = (total > 0) & (rate > 0.0) & (rate < 1.0)
    labels, inverse = np.unique(cluster, return_inverse=True)
    groups = len(labels)
    if groups < 2 or not live.any():
        return effects
    x, weight, total, rate = x[:, live], weight[:, live], total[live], rate[live]
    width = x.shape[1]
    cell = (inverse.reshape(-1, 1) * width + np.arange(width)).ravel()  # (cluster, column), row by row
    residuals = np.bincount(cell, weights=(weight * (x - rate)).ravel(), minlength=groups * width)
    residuals = residuals.reshape(groups, width)
    square_sum = np.einsum("gj,gj->j", residuals, residuals)
    long_run = square_sum.copy()
    for lag in range(1, LAGS + 1):
        partner = np.searchsorted(labels, labels + lag)
        found = partner < groups
        found[found] = labels[partner[found]] == labels[found] + lag
        cross = np.einsum("gj,gj->j", residuals[found], residuals[partner[found]])
        long_run += 2 * (cross + square_sum / groups)  # + the bias of a demeaned autocovariance
    variance = groups / (groups - 1) * np.maximum(long_run, 0.0) / total**2
    binomial = rate * (1.0 - rate) / total
    freedom = max(1.0, (groups - 1) / (1 + LAGS / 2))
    small_sample = (float(_quantiles().stdtrit(freedom, 0.975)) / Z_975) ** 2
    effects[live] = np.maximum(MIN_DESIGN_EFFECT, variance / binomial) * small_sample
    return effects


def dependent_posterior(x: np.ndarray, weight: np.ndarray, window: np.ndarray, origin_rank: np.ndarray,
                        horizon: int, prior_alpha: float, prior_beta: float) -> PosteriorSummary:
    """The Beta posterior of one key (or one horizon step) with its design effect.

    ``window`` is each point's grid window, ``origin_rank`` its origin's
    position among the key's origins (used only with a single window).
    """
    return dependent_posteriors(x[:, None], weight[:, None], window, origin_rank, horizon,
                                prior_alpha, prior_beta)[0]


def dependent_posteriors(x: np.ndarray, weight: np.ndarray, window: np.ndarray, origin_rank: np.ndarray,
                         horizon: int, prior_alpha: float, prior_beta: float) -> list[PosteriorSummary]:
    """:func:`dependent_posterior` of each column of ``x`` and ``weight`` (a key's horizon steps), whose
    points share ``window`` and ``origin_rank``."""
    if len(np.unique(window)) >= 2:
        cluster = window
    else:
        cluster = origin_rank // max(horizon, 1)
    effects = design_effects(x, weight, cluster)
    successes = np.einsum("ij,ij->j", weight, x)
    points = weight.sum(axis=0)
    return [PosteriorSummary(float(s), float(n), float(d), prior_alpha + float(s) / d,
                             prior_beta + (float(n) - float(s)) / d)
            for s, n, d in zip(successes, points, effects, strict=True)]


def beta_interval(alpha: np.ndarray, beta: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of each Beta(α, β), in one vectorised call."""
    tail = (1.0 - level) / 2
    if len(alpha) == 0:
        return np.zeros(0), np.zeros(0)
    special = _quantiles()
    return special.betaincinv(alpha, beta, tail), special.betaincinv(alpha, beta, 1.0 - tail)


def load_quantiles_in_background() -> None:
    """Start importing scipy's quantile functions in a thread: a coordinator that reads trust only when its run
    closes then finds them loaded, instead of waiting 0.2 s for them at the end (bench/bench_end_to_end.py)."""
    if "scipy.special" not in sys.modules:  # a thread per tracker only until they are loaded
        threading.Thread(target=_quantiles, name="load-scipy-special", daemon=True).start()


def _quantiles() -> ModuleType:
    """scipy's quantile functions, imported on first use (scipy.special takes 0.3 s, scipy.stats 0.8 s): every
    worker imports this module for the evidence it sends, and never needs them."""
    import scipy.special

    return scipy.special
