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
           "segmented_design_effects", "segmented_posteriors", "distinct_counts", "beta_interval",
           "load_quantiles_in_background", "LAGS", "MIN_DESIGN_EFFECT"]

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
    return segmented_design_effects(x, weight, cluster, np.zeros(len(x), dtype=np.int64), 1)[0]


def segmented_design_effects(x: np.ndarray, weight: np.ndarray, cluster: np.ndarray, segment: np.ndarray,
                             segments: int) -> np.ndarray:
    """:func:`design_effects` of many keys in one pass, (segments, columns): point i belongs to key
    ``segment[i]``, and its cluster label is compared only with those of its own key.

    A run's close reads the trust of every key it touched: one key at a time,
    numpy's per-call overhead on a few hundred points made that about 0.4 ms
    a key (20 s for 50,000 keys).
    """
    return _segment_statistics(weight * x, weight, cluster, segment, segments)[2]


def _segment_statistics(hits: np.ndarray, weight: np.ndarray, cluster: np.ndarray, segment: np.ndarray,
                        segments: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted successes, weighted points and design effects per (segment, column), from rows of weighted
    successes ``hits`` and weights (rows by columns), each row in one ``cluster`` of one ``segment``.

    Everything past the first step works on the clusters' sums: a cluster's
    residual is its weighted successes less the rate times its weight, so the
    points (a run's close reads millions) are summed once and never revisited.
    """
    columns = hits.shape[1]
    effects = np.ones((segments, columns))
    if len(cluster) == 0:
        return np.zeros((segments, columns)), np.zeros((segments, columns)), effects
    labels, inverse, span = _segment_labels(cluster, segment, gap=LAGS)  # a lag never reaches the next key
    cluster_hits, cluster_weight = _summed_rows(hits, inverse, len(labels)), _summed_rows(weight, inverse, len(labels))
    owner = labels // span
    successes, total = _cell_sums(cluster_hits, owner, segments), _cell_sums(cluster_weight, owner, segments)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = successes / total
    groups = np.bincount(owner, minlength=segments)
    live = (total > 0) & (rate > 0.0) & (rate < 1.0) & (groups >= 2)[:, None]
    if not live.any():
        return successes, total, effects
    residuals = cluster_hits - np.where(live, rate, 0.0)[owner] * cluster_weight
    square_sum = _cell_sums(residuals * residuals, owner, segments)
    long_run = square_sum.copy()
    clusters = np.maximum(groups, 2)[:, None]  # keys of one cluster are not live
    for lag in range(1, LAGS + 1):
        partner = np.searchsorted(labels, labels + lag)
        found = partner < len(labels)
        found[found] = labels[partner[found]] == labels[found] + lag
        cross = _cell_sums(residuals[found] * residuals[partner[found]], owner[found], segments)
        long_run += 2 * (cross + square_sum / clusters)  # + the bias of a demeaned autocovariance
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = clusters / (clusters - 1) * np.maximum(long_run, 0.0) / total**2
        binomial = rate * (1.0 - rate) / total
        ratio = np.maximum(MIN_DESIGN_EFFECT, variance / binomial)
    freedom = np.maximum(1.0, (clusters - 1) / (1 + LAGS / 2))
    small_sample = (_quantiles().stdtrit(freedom, 0.975) / Z_975) ** 2
    effects[live] = (ratio * small_sample)[live]
    return successes, total, effects


def _summed_rows(values: np.ndarray, inverse: np.ndarray, groups: int) -> np.ndarray:
    """``values`` (rows by columns) summed per group ``inverse[row]``: by runs when the rows come group by
    group, as a tracker's do, else cell by cell."""
    if np.all(inverse[1:] >= inverse[:-1]):
        starts = np.flatnonzero(np.diff(inverse, prepend=-1))
        return np.add.reduceat(values, starts, axis=0)
    return _cell_sums(values, inverse, groups)


def _cell_sums(values: np.ndarray, owner: np.ndarray, owners: int) -> np.ndarray:
    """``values`` (rows by columns) summed per (``owner[row]``, column), for owners 0 to ``owners`` - 1."""
    columns = values.shape[1]
    cells = (owner[:, None] * columns + np.arange(columns)).ravel()
    return np.bincount(cells, weights=values.ravel(), minlength=owners * columns).reshape(owners, columns)


def _segment_labels(values: np.ndarray, segment: np.ndarray, gap: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Each distinct (segment, value) pair of integer ``values`` as one label, ordered by segment, then value
    (``label // span`` is its segment), with ``gap`` free labels after each segment's last; and each point's
    label's index."""
    low = int(values.min())
    span = int(values.max()) - low + gap + 1
    labels, inverse = _distinct(segment.astype(np.int64) * span + (values - low))
    return labels, inverse, span


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``, in one pass instead of a sort when ``values`` are sorted
    already, as a tracker's are (each key's origins oldest first, one key after another)."""
    if len(values) > 1 and not np.all(values[1:] >= values[:-1]):
        labels, inverse = np.unique(values, return_inverse=True)
        return labels, inverse.ravel()
    first = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return values[first], np.cumsum(first) - 1


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
    single = np.zeros(len(x), dtype=np.int64)
    return segmented_posteriors(weight * x, weight, window, origin_rank, horizon, single, 1, prior_alpha,
                                prior_beta)[0]


def distinct_counts(values: np.ndarray, segment: np.ndarray, segments: int) -> np.ndarray:
    """How many distinct ``values`` (integers) each segment holds."""
    if len(values) == 0:
        return np.zeros(segments, dtype=np.int64)
    labels, _, span = _segment_labels(values, segment)
    return np.bincount(labels // span, minlength=segments)


def segmented_posteriors(hits: np.ndarray, weight: np.ndarray, window: np.ndarray, origin_rank: np.ndarray,
                         horizon: int, segment: np.ndarray, segments: int, prior_alpha: float,
                         prior_beta: float) -> list[list[PosteriorSummary]]:
    """:func:`dependent_posteriors` of many keys in one pass (see :func:`segmented_design_effects`): per key,
    the posterior of each column, from rows of weighted successes ``hits`` (weight times outcome) and
    weights; a row may pool several points of one origin. A key whose rows span two windows or more is
    clustered by window, any other by runs of ``horizon`` consecutive origins."""
    windowed = distinct_counts(window, segment, segments) >= 2
    cluster = np.where(windowed[segment], window, origin_rank // max(horizon, 1))
    successes, points, effects = _segment_statistics(hits, weight, cluster, segment, segments)
    return [[PosteriorSummary(float(s), float(n), float(d), prior_alpha + float(s) / d,
                              prior_beta + (float(n) - float(s)) / d)
             for s, n, d in zip(key_successes, key_points, key_effects, strict=True)]
            for key_successes, key_points, key_effects in zip(successes, points, effects, strict=True)]


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
