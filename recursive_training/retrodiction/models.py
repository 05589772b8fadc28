"""Forecasting models, small and pure, vectorised across forecast origins.

Every model answers two calls: ``fit(y)`` on a training span, and
``predict(y, origins, horizon)`` which returns one row of ``horizon``
forecasts per origin index ``o``, using only ``y[: o + 1]``. Predicting all
origins in one array operation is what makes rolling-origin backtests fast.
"""

from __future__ import annotations

from typing import Mapping, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..base import InsufficientDataError, ModelError

__all__ = [
    "ForecastModel",
    "Naive",
    "SeasonalNaive",
    "AutoRegressive",
    "lag_matrix",
]


class ForecastModel(Protocol):
    """What the rolling-origin engine needs from a model."""

    name: str
    min_train: int  # observations needed to fit
    min_history: int  # observations needed at and before an origin

    def fit(self, y: np.ndarray) -> "ForecastModel": ...

    def predict(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray: ...

    def state(self) -> dict[str, np.ndarray]:
        """What ``fit`` learned, as named arrays (empty for a model that learns nothing): what the
        model registry stores."""
        ...

    def with_state(self, state: Mapping[str, np.ndarray]) -> "ForecastModel":
        """This model as fitted, from what :meth:`state` gave; a state of another shape is a ModelError."""
        ...


def lag_matrix(y: np.ndarray, origins: np.ndarray, width: int) -> np.ndarray:
    """Rows ``y[o - width + 1 .. o]`` in time order, one per origin.

    The single place where models look back from an origin, so no model can
    read past it.
    """
    return y[origins[:, None] + np.arange(1 - width, 1)]


class _FitFree:
    """A model whose fit learns nothing: it has no state to store."""

    name: str

    def fit(self, y: np.ndarray) -> "_FitFree":
        return self

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def with_state(self, state: Mapping[str, np.ndarray]) -> "_FitFree":
        if state:
            raise ModelError(f"{self.name} learns nothing, but a state of {sorted(state)} was given")
        return self


class Naive(_FitFree):
    """ŷ(t+k) = y(t)."""

    name = "naive"
    min_train = 2
    min_history = 1

    def predict(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        return np.repeat(y[origins][:, None], horizon, axis=1)


class SeasonalNaive(_FitFree):
    """ŷ(t+k) = y(t + k − m·⌈k/m⌉): the value one season before each target."""

    name = "seasonal_naive"

    def __init__(self, season_length: int) -> None:
        self.season_length = season_length
        self.min_history = season_length
        self.min_train = season_length + 1

    def predict(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        m = self.season_length
        k = np.arange(1, horizon + 1)
        offsets = k - m * np.ceil(k / m).astype(np.int64)  # in (-m, 0]
        return y[origins[:, None] + offsets[None, :]]


class AutoRegressive:
    """AR(p) with intercept by least squares; multi-step forecasts are recursive."""

    name = "ar"

    def __init__(self, order: int) -> None:
        self.order = order
        self.min_history = order
        self.min_train = 2 * order + 2  # more equations than p + 1 unknowns
        self.coef: np.ndarray | None = None

    def fit(self, y: np.ndarray) -> "AutoRegressive":
        p = self.order
        if len(y) < self.min_train:
            raise InsufficientDataError(f"ar({p}) needs {self.min_train} observations, got {len(y)}")
        lags = sliding_window_view(y[:-1], p)[:, ::-1]  # row t: y[t-1], ..., y[t-p]
        design = np.column_stack([np.ones(len(lags)), lags])
        self.coef, *_ = np.linalg.lstsq(design, y[p:], rcond=None)
        return self

    def state(self) -> dict[str, np.ndarray]:
        if self.coef is None:
            raise ModelError("ar model has no state before fit")
        return {"coef": self.coef.copy()}

    def with_state(self, state: Mapping[str, np.ndarray]) -> "AutoRegressive":
        coef = np.asarray(state.get("coef", ()), dtype=float)
        if set(state) != {"coef"} or coef.shape != (self.order + 1,) or not np.all(np.isfinite(coef)):
            raise ModelError(f"ar({self.order}) needs a state of {self.order + 1} finite coefficients")
        self.coef = coef
        return self

    def predict(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        if self.coef is None:
            raise ModelError("ar model used before fit")
        intercept, phi = self.coef[0], self.coef[1:]
        state = lag_matrix(y, origins, self.order)[:, ::-1].copy()  # newest first
        out = np.empty((len(origins), horizon))
        for k in range(horizon):
            out[:, k] = intercept + state @ phi
            state = np.column_stack([out[:, k], state[:, :-1]])
        return out
