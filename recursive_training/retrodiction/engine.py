"""The rolling-origin engine: retrodict one variable over one window.

Semantics (DESIGN.md): every ``step``-th observation inside ``[start, end)``
is an origin; the forecast for ``t + k`` (k = 1..horizon observations) uses
only observations at or before ``t``. The model is fitted on the last
``lookback`` observations before ``start`` and, with ``refit_every = n``,
refitted on the data up to every n-th origin. Origins whose last target lies
past the final observation are skipped, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InsufficientDataError
from .models import Naive, make_model
from .scoring import WindowScore, naive_scale, score_window
from .settings import RetrodictionSettings

__all__ = ["WindowForecast", "retrodict_window", "forecast_origins"]


@dataclass(frozen=True)
class WindowForecast:
    """Forecasts of one model from every origin of a window, with actuals."""

    model: str
    origins: np.ndarray  # timestamps of the origins
    forecasts: np.ndarray  # (origins, horizon)
    actuals: np.ndarray  # (origins, horizon)
    naive: np.ndarray  # naive forecasts from the same origins, for skill
    scale: float  # one-step naive MAE of the initial training span
    n_train: int

    def score(self, tolerance: float) -> WindowScore:
        return score_window(self.forecasts, self.actuals, self.naive, self.scale, tolerance)


def forecast_origins(
    timestamps: np.ndarray, start: np.datetime64, end: np.datetime64, horizon: int, step: int
) -> np.ndarray:
    """Indices of the scored origins of ``[start, end)``."""
    first, stop = np.searchsorted(timestamps, [start, end], side="left")
    origins = np.arange(first, stop, step)
    return origins[origins + horizon < len(timestamps)]


def retrodict_window(
    timestamps: np.ndarray,
    values: np.ndarray,
    start: np.datetime64,
    end: np.datetime64,
    model_name: str,
    settings: RetrodictionSettings,
) -> WindowForecast:
    """Train on what was known before ``start`` and forecast from each origin.

    ``timestamps`` must be sorted; ``values`` may extend past ``end`` so the
    last origins have their targets.
    """
    h = settings.horizon
    first = int(np.searchsorted(timestamps, start, side="left"))
    origins = forecast_origins(timestamps, start, end, h, settings.step)
    if len(origins) == 0:
        raise InsufficientDataError("no origin in the window has all its horizon targets")
    train = values[max(0, first - settings.lookback) : first]
    model = make_model(model_name, settings)
    if len(train) < model.min_train:
        raise InsufficientDataError(
            f"{model_name} needs {model.min_train} training observations before the window, "
            f"{len(train)} available"
        )

    forecasts = np.empty((len(origins), h))
    block = settings.refit_every or len(origins)
    for begin in range(0, len(origins), block):
        block_origins = origins[begin : begin + block]
        if begin:  # refit on the last `lookback` observations up to this origin
            o = int(block_origins[0])
            train_span = values[max(0, o + 1 - settings.lookback) : o + 1]
            model = make_model(model_name, settings)
        else:
            train_span = train
        model.fit(train_span)
        forecasts[begin : begin + block] = model.predict(values, block_origins, h)

    targets = origins[:, None] + np.arange(1, h + 1)
    return WindowForecast(
        model=model_name,
        origins=timestamps[origins],
        forecasts=forecasts,
        actuals=values[targets],
        naive=Naive().predict(values, origins, h),
        scale=naive_scale(train),
        n_train=len(train),
    )
