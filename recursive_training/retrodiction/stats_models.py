"""The standard statistical models (ETS, ARIMA, Theta, CES) through statsforecast.

Each is fitted on the training span by statsforecast's automatic search
(AutoETS, AutoARIMA, AutoTheta, AutoCES), then forecasts from each origin
by running the fitted model forward over the data from the start of its
training span up to that origin, without estimating again (statsforecast's
``forward``). Starting where training started keeps a seasonal model's
phase and the lookback's meaning; with a refit at every origin the
forecasts are statsforecast's own cross-validation (tested to 1e-6).

What the registry keeps of such a model is its training span: statsforecast
holds a fitted model as a dictionary of arrays, strings and functions that
only pickle could store, and its fit is deterministic, so the model is
fitted again on load and forecasts exactly as it did.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..base import InsufficientDataError, ModelError, one_line

__all__ = ["StatsForecastModel"]

_AUTO_CLASSES = {"ets": "AutoETS", "arima": "AutoARIMA", "theta": "AutoTheta", "ces": "AutoCES"}


class StatsForecastModel:
    """A statsforecast model behind the engine's fit / predict protocol (see models.py)."""

    min_history = 1

    def __init__(self, name: str, make: Callable[[], Any], min_train: int) -> None:
        self.name, self._make, self.min_train = name, make, min_train
        self._fitted: Any = None
        self._train: np.ndarray | None = None

    def fit(self, y: np.ndarray) -> "StatsForecastModel":
        y = np.asarray(y, dtype=float)
        if len(y) < self.min_train:
            raise InsufficientDataError(f"{self.name} needs {self.min_train} observations, got {len(y)}")
        try:
            self._fitted = self._make().fit(y)
        except Exception as exc:  # statsforecast's own errors: too short, constant, no model fits
            raise ModelError(f"{self.name}: statsforecast could not fit: {one_line(exc)}") from None
        self._train = y.copy()
        return self

    def predict(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        if self._train is None:
            raise ModelError(f"{self.name} model used before fit")
        y = np.asarray(y, dtype=float)
        start = self._training_start(y, int(np.min(origins)))
        return np.stack([self._fitted.forward(y[start:origin + 1], horizon)["mean"] for origin in origins])

    def _training_start(self, y: np.ndarray, first_origin: int) -> int:
        """Where ``y`` holds the training span (its values bit for bit), the latest place at or before
        ``first_origin``: a model is never run forward from data it was not fitted on."""
        train = self._train
        for start in np.flatnonzero(y[:max(0, min(first_origin + 1, len(y) - len(train) + 1))] == train[0])[::-1]:
            if np.array_equal(y[start:start + len(train)], train):
                return int(start)
        raise ModelError(f"{self.name}: the data given does not hold the span the model was fitted on")

    def state(self) -> dict[str, np.ndarray]:
        if self._train is None:
            raise ModelError(f"{self.name} model has no state before fit")
        return {"train": self._train.copy()}

    def with_state(self, state: Mapping[str, np.ndarray]) -> "StatsForecastModel":
        train = np.asarray(state.get("train", ()), dtype=float)
        if set(state) != {"train"} or train.ndim != 1 or not np.all(np.isfinite(train)):
            raise ModelError(f"{self.name} needs a state holding its finite training span")
        return self.fit(train)


def statsforecast_builder(kind: str) -> Callable[[Any], StatsForecastModel]:
    """The family table's ``build`` for ``kind``: statsforecast is imported only when a model is made."""
    def build(params: Any) -> StatsForecastModel:
        from statsforecast import models

        options = {name: getattr(params, name) for name in params.__dataclass_fields__}
        auto = getattr(models, _AUTO_CLASSES[kind])
        return StatsForecastModel(kind, lambda: auto(**options),
                                  min_train=2 * params.season_length + (10 if kind == "arima" else 4))

    return build


def warm_up_statsforecast(family: str) -> Callable[[Any], None]:
    """Pay statsforecast's import (seconds) once per worker, before its first batch."""
    def warm_up(params: Any) -> None:
        model = statsforecast_builder(family)(params)
        history = 10 + np.sin(np.arange(model.min_train + 8, dtype=float))
        model.fit(history).predict(history, np.array([len(history) - 1]), 2)

    return warm_up
