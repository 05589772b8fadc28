"""What a model costs to fit and to forecast, in seconds of one core: so the planner weighs batches by work.

A batch of ARIMA costs thousands of times a batch of naive with the same
origins, and an MLP's cost is its fits, whatever the number of origins.
Measured on the development machine (one core; a daily series, 365
training points, a year of origins, horizon 7), as one-model timings:

==================  ==========================  ==================
family              fit                         forecast, a origin
==================  ==========================  ==================
naive, seasonal     nothing                     3 µs (and scoring)
ar                  0.6 µs a training point     3 µs
mlp (together)      50 µs + 0.25 ns x units     8 µs
                    x points, per epoch
lstm                30 µs a point per epoch     75 µs
ets                 215 µs a point              210 µs
arima               3.5 ms a point (13 ms       1.6 ms (2.5 ms
                    seasonal)                   seasonal)
theta               80 µs a point               790 µs
ces                 15 µs a point               210 µs
==================  ==========================  ==================

(an MLP's units: lags x hidden + hidden^2 + hidden, its multiply-adds per
row). Only the ratios matter to the planner, and they hold within a factor
of two or so across sizes; the absolute seconds vary with the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ModelCost", "NAIVE_SECONDS_PER_ORIGIN", "autoregressive_cost", "fit_free_cost", "lstm_cost", "mlp_cost",
           "statsforecast_cost"]

NAIVE_SECONDS_PER_ORIGIN = 3e-6


@dataclass(frozen=True)
class ModelCost:
    """Seconds per forecast origin, per fit, and per training point of each fit; costs of several models add."""

    per_origin: float = 0.0
    per_fit: float = 0.0
    per_training_point: float = 0.0

    def __add__(self, other: "ModelCost") -> "ModelCost":
        return ModelCost(self.per_origin + other.per_origin, self.per_fit + other.per_fit,
                         self.per_training_point + other.per_training_point)


def fit_free_cost(parameters: Any) -> ModelCost:
    return ModelCost(per_origin=NAIVE_SECONDS_PER_ORIGIN)


def autoregressive_cost(parameters: Any) -> ModelCost:
    return ModelCost(per_origin=NAIVE_SECONDS_PER_ORIGIN, per_training_point=0.6e-6 + 0.02e-6 * parameters.order)


def mlp_cost(parameters: Any) -> ModelCost:
    hidden = parameters.hidden_size
    units = parameters.lags * hidden + hidden * hidden + hidden
    return ModelCost(per_origin=8e-6, per_fit=parameters.epochs * 50e-6,
                     per_training_point=parameters.epochs * 0.25e-9 * units)


def lstm_cost(parameters: Any) -> ModelCost:
    scale = (parameters.hidden_size / 32) ** 2
    return ModelCost(per_origin=75e-6 * scale, per_training_point=parameters.epochs * 30e-6 * scale)


_STATSFORECAST = {"ets": (215e-6, 210e-6), "arima": (3.5e-3, 1.6e-3), "theta": (80e-6, 790e-6),
                  "ces": (15e-6, 210e-6)}  # (a training point, an origin)


def statsforecast_cost(family: str) -> Any:
    """The cost function of a statsforecast family; a seasonal ARIMA searches far more orders."""
    point, origin = _STATSFORECAST[family]

    def cost(parameters: Any) -> ModelCost:
        seasonal = family == "arima" and getattr(parameters, "season_length", 1) > 1
        return ModelCost(per_origin=origin * (1.6 if seasonal else 1.0),
                         per_training_point=point * (3.7 if seasonal else 1.0))
    return cost
