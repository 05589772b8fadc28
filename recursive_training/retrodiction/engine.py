"""The rolling-origin engine: retrodict one variable over one grid window.

Semantics (docs/design.md): every ``step``-th observation inside the grid
window ``[window_start, window_end)`` is an origin; the forecast for ``t + k``
(k = 1..horizon observations) uses only observations at or before ``t``. The
model is fitted on the ``lookback`` (observations, or a duration) before the
window and, with ``refit_every = n``, refitted on the data up to every n-th
origin of the window. Only origins inside the scored span count; origins whose last target
lies past the final observation are skipped, not scored. Because fits and
origins follow the grid window, never the span, the forecast made at an
origin is the same whichever run computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import InsufficientDataError
from .models import ForecastModel, Naive
from .scoring import WindowScore, naive_scale, score_window, success_mask
from .settings import RetrodictionSettings
from .specs import ModelSpec, parse_model_specs

__all__ = ["WindowForecast", "retrodict_window", "forecast_origins", "first_occurrences", "window_training_span"]


@dataclass(frozen=True)
class WindowForecast:
    """Forecasts of one model spec from every scored origin of a window, with actuals.

    ``counted`` marks the points whose (target, forecast) pair no earlier
    origin made already: the points that are new evidence.
    """

    spec: str
    origins: np.ndarray  # timestamps of the origins
    target_times: np.ndarray  # (origins, horizon) timestamps
    forecasts: np.ndarray  # (origins, horizon)
    actuals: np.ndarray  # (origins, horizon)
    naive: np.ndarray  # naive forecasts from the same origins, for skill
    counted: np.ndarray  # (origins, horizon) bool
    scale: float  # one-step naive MAE of the initial training span
    n_train: int

    def score(self, tolerance: float) -> WindowScore:
        return score_window(self.forecasts, self.actuals, self.naive, self.scale, tolerance)

    def successes(self, tolerance: float) -> np.ndarray:
        return success_mask(self.forecasts, self.actuals, self.scale, tolerance)


def forecast_origins(
    timestamps: np.ndarray, start: np.datetime64, end: np.datetime64, horizon: int, step: int
) -> np.ndarray:
    """Indices of the origins of ``[start, end)`` that have all their targets."""
    first, stop = np.searchsorted(timestamps, [start, end], side="left")
    origins = np.arange(first, stop, step)
    return origins[origins + horizon < len(timestamps)]


def first_occurrences(origins: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """For each (origin, step) point, whether no earlier origin made the same (target, forecast) pair.

    ``origins`` are positions in the series, ascending; the target of point
    (i, k) is ``origins[i] + k + 1``. Pairs are compared bit for bit, so only
    truly repeated forecasts (a seasonal naive reusing one value for several
    steps) collapse.
    """
    n, h = forecasts.shape
    targets = (origins[:, None] + np.arange(1, h + 1)).ravel()
    bits = np.ascontiguousarray(forecasts, dtype=np.float64).view(np.int64).ravel()
    order = np.lexsort((np.repeat(origins, h), bits, targets))
    sorted_targets, sorted_bits = targets[order], bits[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (sorted_targets[1:] != sorted_targets[:-1]) | (sorted_bits[1:] != sorted_bits[:-1])
    first = np.zeros(len(order), dtype=bool)
    first[order] = new_group
    return first.reshape(n, h)


def _predict_blocks(model_for_block, values: np.ndarray, window_origins: np.ndarray, wanted: np.ndarray,
                    refit_every: int, horizon: int) -> np.ndarray:
    """Forecasts at ``window_origins[wanted]``, fitting each refit block only if it is needed."""
    block = refit_every or len(window_origins)
    out = np.empty((len(wanted), horizon))
    for b in np.unique(wanted // block):
        rows = np.flatnonzero(wanted // block == b)
        model = model_for_block(int(b), int(window_origins[b * block]))
        out[rows] = model.predict(values, window_origins[wanted[rows]], horizon)
    return out


def window_training_span(timestamps: np.ndarray, values: np.ndarray, window_start: np.datetime64,
                         settings: RetrodictionSettings) -> np.ndarray:
    """What a window's first fit trains on: the lookback's observations before the window."""
    first = int(np.searchsorted(timestamps, window_start, side="left"))
    return values[settings.training_begin(timestamps, first, window_start) : first]


def retrodict_window(
    timestamps: np.ndarray,
    values: np.ndarray,
    window_start: np.datetime64,
    window_end: np.datetime64,
    spec: ModelSpec | str,
    settings: RetrodictionSettings,
    *,
    span: tuple[np.datetime64, np.datetime64] | None = None,
    previous_window_start: np.datetime64 | None = None,
    fitted: ForecastModel | None = None,
) -> WindowForecast:
    """Train on what was known before the grid window and forecast from each scored origin.

    ``timestamps`` must be sorted; ``values`` may extend past the window so
    the last origins have their targets. ``span`` (default: the window) is
    the part of the window this run scores. ``previous_window_start`` lets a
    fit-free model recognise pairs repeated from the previous window's last
    origins; the data must then reach back to it when ``step`` > 1. ``fitted`` is the window's first
    model of ``spec``, already fitted on :func:`window_training_span` (batched_torch.py fits many at
    once); without it the model is fitted here.
    """
    if isinstance(spec, str):
        spec = parse_model_specs([spec], settings.run_options)[0]
    h, step = settings.horizon, settings.step
    span_start, span_end = span if span is not None else (window_start, window_end)
    first, stop = (int(i) for i in np.searchsorted(timestamps, [window_start, window_end], side="left"))
    window_origins = np.arange(first, stop, step)
    origin_times = timestamps[window_origins]
    scored = np.flatnonzero((origin_times >= span_start) & (origin_times < span_end)
                            & (window_origins + h < len(timestamps)))
    if len(scored) == 0:
        raise InsufficientDataError("no origin in the window has all its horizon targets")
    train = window_training_span(timestamps, values, window_start, settings)
    initial: ForecastModel = fitted if fitted is not None else spec.build()
    if len(train) < initial.min_train:
        raise InsufficientDataError(
            f"{spec.id} needs {initial.min_train} training observations before the window, {len(train)} available")

    def model_for_block(block: int, origin: int) -> ForecastModel:
        if block == 0:
            return initial if fitted is not None else initial.fit(train)
        return spec.build().fit(values[settings.training_begin(timestamps, origin + 1, timestamps[origin]) : origin + 1])

    # Earlier origins whose forecasts can repeat a scored point's pair: those of this window
    # within h observations before the first scored origin, and, for a model that learns nothing
    # from its fit, the previous grid window's last origins.
    reach = window_origins[scored[0]] - (h - 1)
    wanted = np.arange(np.searchsorted(window_origins, max(reach, initial.min_history - 1)), scored[-1] + 1)
    forecasts = _predict_blocks(model_for_block, values, window_origins, wanted, settings.refit_every, h)
    positions = window_origins[wanted]
    if spec.entry.fit_free and previous_window_start is not None and reach < first:
        previous_first = int(np.searchsorted(timestamps, previous_window_start, side="left"))
        earlier = np.arange(max(reach, initial.min_history - 1, 0), first)
        earlier = earlier[(earlier - previous_first) % step == 0]
        if len(earlier):
            forecasts = np.vstack([initial.predict(values, earlier, h), forecasts])
            positions = np.concatenate([earlier, positions])
    keep = np.isin(positions, window_origins[scored])
    counted = first_occurrences(positions, forecasts)[keep]
    forecasts = forecasts[keep]
    origins = window_origins[scored]
    targets = origins[:, None] + np.arange(1, h + 1)
    return WindowForecast(
        spec=spec.id,
        origins=timestamps[origins],
        target_times=timestamps[targets],
        forecasts=forecasts,
        actuals=values[targets],
        naive=Naive().predict(values, origins, h),
        counted=counted,
        scale=naive_scale(train),
        n_train=len(train),
    )
