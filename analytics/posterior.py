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
shares a fitted model and an error scale; neighbouring windows still share
training data and targets, so the window residuals enter a Newey-West
(Bartlett kernel) long-run variance with the usual automatic bandwidth
``⌊4 (G/100)^(2/9)⌋`` windows. With few windows the estimate is itself
uncertain, so ``d`` is widened by ``(t_{G-1} / z)²``, the usual small-sample
correction. With one window the clusters are runs of consecutive origins
as long as the horizon, which capture the dependence between steps and
neighbouring origins but cannot see how windows differ. ``d`` is never
below 1. bench/bench_calibration.py shows the coverage on simulated series
with known rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_distribution
from scipy.stats import norm, t as student_t

__all__ = ["PosteriorSummary", "design_effect", "dependent_posterior", "beta_interval", "newey_west_lags",
           "MIN_DESIGN_EFFECT"]

Z_975 = float(norm.ppf(0.975))
MIN_DESIGN_EFFECT = 1.0


@dataclass(frozen=True)
class PosteriorSummary:
    successes: float  # weighted
    points: float  # weighted
    design_effect: float
    alpha: float
    beta: float


def design_effect(x: np.ndarray, weight: np.ndarray, cluster: np.ndarray) -> float:
    """Variance of the weighted success rate over its binomial variance, from cluster residuals.

    ``x`` are 0/1 outcomes, ``weight`` their (decay) weights, ``cluster``
    an integer label per point. Returns 1 when the rate is 0 or 1 or there
    is a single cluster.
    """
    total = weight.sum()
    if total <= 0:
        return 1.0
    rate = float(np.dot(weight, x) / total)
    if rate <= 0.0 or rate >= 1.0:
        return 1.0
    labels, inverse = np.unique(cluster, return_inverse=True)
    groups = len(labels)
    if groups < 2:
        return 1.0
    residuals = np.bincount(inverse, weights=weight * (x - rate), minlength=groups)
    long_run = float(np.dot(residuals, residuals))
    lags = newey_west_lags(groups)
    for lag in range(1, lags + 1):  # clusters `lag` apart on the grid (labels are grid positions)
        partner = np.searchsorted(labels, labels + lag)
        found = partner < groups
        found[found] = labels[partner[found]] == labels[found] + lag
        long_run += 2 * (1 - lag / (lags + 1)) * float(np.dot(residuals[found], residuals[partner[found]]))
    variance = groups / (groups - 1) * max(long_run, 0.0) / total**2
    binomial = rate * (1.0 - rate) / total
    small_sample = (float(student_t.ppf(0.975, groups - 1)) / Z_975) ** 2
    return max(MIN_DESIGN_EFFECT, variance / binomial * small_sample)


def newey_west_lags(clusters: int) -> int:
    """The automatic Bartlett bandwidth for a series of ``clusters`` values."""
    return int(4 * (clusters / 100) ** (2 / 9))


def dependent_posterior(x: np.ndarray, weight: np.ndarray, window: np.ndarray, origin_rank: np.ndarray,
                        horizon: int, prior_alpha: float, prior_beta: float) -> PosteriorSummary:
    """The Beta posterior of one key (or one horizon step) with its design effect.

    ``window`` is each point's grid window, ``origin_rank`` its origin's
    position among the key's origins (used only with a single window).
    """
    if len(np.unique(window)) >= 2:
        cluster = window
    else:
        cluster = origin_rank // max(horizon, 1)
    effect = design_effect(x, weight, cluster)
    successes = float(np.dot(weight, x))
    points = float(weight.sum())
    return PosteriorSummary(successes, points, effect, prior_alpha + successes / effect,
                            prior_beta + (points - successes) / effect)


def beta_interval(alpha: np.ndarray, beta: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of each Beta(α, β), in one vectorised call."""
    tail = (1.0 - level) / 2
    if len(alpha) == 0:
        return np.zeros(0), np.zeros(0)
    low, high = beta_distribution.ppf([[tail], [1.0 - tail]], alpha, beta)
    return low, high
