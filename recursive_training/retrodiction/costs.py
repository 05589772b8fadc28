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
mlp (together)      25 µs + 0.16 ns x units     8 µs
                    x points, per epoch; and
                    350 µs per epoch for the
                    batch's group
lstm                30 µs a point per epoch     75 µs
ets                 215 µs a point              210 µs
arima               3.5 ms a point (13 ms       1.6 ms (2.5 ms
                    seasonal)                   seasonal)
theta               80 µs a point               790 µs
ces                 15 µs a point               210 µs
==================  ==========================  ==================

(an MLP's units: lags x hidden + hidden^2 + hidden, its multiply-adds per
row). MLPs of one shape in a batch train as one (batched_torch.py): the
group's epochs cost a fixed 350 µs each however many models share them,
which a batch pays once (on 2 workers, a window of 16 variables cut in
batches of 4 took 40% more CPU than in batches of 8 or 16), and models
that differ only in their epochs share one training. Only the ratios
matter to the planner, and they hold within a factor of two or so across
sizes; the absolute seconds vary with the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Iterable

__all__ = ["ModelCost", "NAIVE_SECONDS_PER_ORIGIN", "autoregressive_cost", "combined_cost", "fit_free_cost",
           "lstm_cost", "mlp_cost", "statsforecast_cost"]

NAIVE_SECONDS_PER_ORIGIN = 3e-6


@dataclass(frozen=True)
class ModelCost:
    """Seconds per forecast origin, per fit, per training point of each fit, and per batch.

    ``per_batch`` is what a batch pays once for the models that train
    together (``batched_with`` the same key), whatever their number;
    models ``trained_with`` the same key follow one training, which costs
    what the longest of them costs. See :func:`combined_cost`.
    """

    per_origin: float = 0.0
    per_fit: float = 0.0
    per_training_point: float = 0.0
    per_batch: float = 0.0
    trained_with: Hashable = None
    batched_with: Hashable = None


def combined_cost(costs: Iterable[ModelCost], *, together: bool) -> ModelCost:
    """What a run's models cost together: forecasts add up; trainings and batch costs they share count once.

    ``together`` False (each model fitted alone: refits inside windows, or
    ``train_together`` off) makes every fit pay its group's batch cost
    itself and share nothing.
    """
    origin = fit = point = 0.0
    trainings: dict[Hashable, tuple[float, float]] = {}
    groups: dict[Hashable, float] = {}
    for at, cost in enumerate(costs):
        origin += cost.per_origin
        if not together:
            fit, point = fit + cost.per_fit + cost.per_batch, point + cost.per_training_point
            continue
        training = at if cost.trained_with is None else cost.trained_with
        shared = trainings.get(training, (0.0, 0.0))
        trainings[training] = (max(shared[0], cost.per_fit), max(shared[1], cost.per_training_point))
        if cost.per_batch:
            group = at if cost.batched_with is None else cost.batched_with
            groups[group] = max(groups.get(group, 0.0), cost.per_batch)
    fit += sum(f for f, _ in trainings.values())
    point += sum(p for _, p in trainings.values())
    return ModelCost(origin, fit, point, sum(groups.values()))


def fit_free_cost(parameters: Any) -> ModelCost:
    return ModelCost(per_origin=NAIVE_SECONDS_PER_ORIGIN)


def autoregressive_cost(parameters: Any) -> ModelCost:
    return ModelCost(per_origin=NAIVE_SECONDS_PER_ORIGIN, per_training_point=0.6e-6 + 0.02e-6 * parameters.order)


def mlp_cost(parameters: Any) -> ModelCost:
    """Trained together with the batch's MLPs of its shape (lags, hidden size), and with those that differ from
    it only in their epochs (same seed and learning rate: batched_torch.py)."""
    lags, hidden, epochs = parameters.lags, parameters.hidden_size, parameters.epochs
    units = lags * hidden + hidden * hidden + hidden
    shape = ("mlp", lags, hidden)
    return ModelCost(per_origin=8e-6, per_fit=epochs * 25e-6, per_training_point=epochs * 0.16e-9 * units,
                     per_batch=epochs * 350e-6, trained_with=(*shape, parameters.seed, parameters.learning_rate),
                     batched_with=shape)


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
