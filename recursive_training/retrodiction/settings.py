"""What a retrodiction computes: model specs, horizon, origins, training span, scoring."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ..base import ConfigError, require_float, require_int
from .specs import (
    DEFAULT_MODELS,
    AutoRegressiveParameters,
    ModelSpec,
    SeasonalNaiveParameters,
    TorchParameters,
    parse_model_specs,
    uses_torch,
)

__all__ = ["RetrodictionSettings", "SCALE_RULE", "LEGACY_MODEL_OPTIONS"]

SCALE_RULE = "naive-mae"  # success: |error| / in-sample one-step naive MAE of the training span <= tolerance

# Run-wide options that set a model parameter a spec leaves out (``--ar-order 3`` with ``--model ar``).
LEGACY_MODEL_OPTIONS = ("season_length", "ar_order", "lags", "hidden_size", "epochs", "learning_rate", "seed")


@dataclass(frozen=True)
class RetrodictionSettings:
    """Validated settings shared by the engine, the models and the scoring.

    ``models`` may be given as spec strings (``"ar(order=3)"``), mappings or
    :class:`ModelSpec`; it always holds specs afterwards. ``horizon`` and
    ``step`` count observations, not calendar time, exactly as docs/design.md
    defines origins; ``lookback`` is a number of observations or a duration
    (``"730D"``, ``"8W"``, ``"24M"``, ``"5Y"``), capped at the history there
    is. ``refit_every = 0`` fits once per window on the data before it. The options from ``season_length`` on set
    the parameters that a spec does not give itself; ``fallback_model`` is a
    spec that scores in place of a model that raises. ``train_together``
    trains a batch's MLPs of one shape as one model (the same mathematics,
    several times faster; forecasts within 1e-4 of training each alone).
    """

    models: tuple[Any, ...] = DEFAULT_MODELS
    horizon: int = 7
    step: int = 1
    lookback: int | str = 365
    refit_every: int = 0
    tolerance: float = 1.0
    season_length: int = SeasonalNaiveParameters.season_length
    ar_order: int = AutoRegressiveParameters.order
    lags: int = TorchParameters.lags
    hidden_size: int = TorchParameters.hidden_size
    epochs: int = TorchParameters.epochs
    learning_rate: float = TorchParameters.learning_rate
    seed: int = TorchParameters.seed
    fallback_model: str | None = None
    train_together: bool = True  # a batch's MLPs of one shape trained as one (batched_torch.py)

    def __post_init__(self) -> None:
        if not isinstance(self.train_together, bool):
            raise ConfigError(f"option 'train_together' must be true or false, got {self.train_together!r}")
        for name in ("horizon", "step"):
            require_int(name, getattr(self, name), minimum=1)
        object.__setattr__(self, "lookback", _parse_lookback(self.lookback))
        require_int("refit_every", self.refit_every, minimum=0)
        for name in ("season_length", "ar_order", "lags", "hidden_size", "epochs"):
            require_int(name, getattr(self, name), minimum=1)
        require_int("seed", self.seed, minimum=0)
        require_float("learning_rate", self.learning_rate, minimum=0.0, inclusive=False)
        object.__setattr__(self, "tolerance", require_float("tolerance", self.tolerance, minimum=0.0,
                                                            inclusive=False))
        models = (self.models,) if isinstance(self.models, str) else tuple(self.models)
        object.__setattr__(self, "models", parse_model_specs(models, self.run_options))
        if self.fallback_model is not None:
            fallback = parse_model_specs([self.fallback_model], self.run_options)
            if len(fallback) != 1:
                raise ConfigError(f"option 'fallback_model' names one model, got {self.fallback_model!r}")
            object.__setattr__(self, "fallback_model", fallback[0].explicit)

    @property
    def run_options(self) -> dict[str, Any]:
        """The run-wide options that set a parameter a spec leaves out."""
        return {name: getattr(self, name) for name in LEGACY_MODEL_OPTIONS}

    @property
    def needs_torch(self) -> bool:
        """Whether a model of the run is a torch one: workers then import and warm up torch first."""
        return uses_torch(self.models)

    @property
    def fallback(self) -> ModelSpec | None:
        """The spec that scores in place of a model that raises (statsforecast's ``fallback_model``)."""
        return None if self.fallback_model is None else parse_model_specs([self.fallback_model])[0]

    @property
    def context_id(self) -> str:
        """What defines a success: runs with different contexts never pool their trust."""
        return f"horizon={self.horizon},step={self.step},tolerance={float(self.tolerance)!r},scale={SCALE_RULE}"

    @property
    def lookback_duration(self) -> pd.DateOffset | None:
        """The lookback as a calendar duration, or None when it counts observations."""
        return None if isinstance(self.lookback, int) else _duration(self.lookback)

    def training_begin(self, timestamps: np.ndarray, stop: int, boundary: np.datetime64) -> int:
        """First index of the training span that ends before ``stop`` (at ``boundary`` in time)."""
        if isinstance(self.lookback, int):
            return max(0, stop - self.lookback)
        return int(np.searchsorted(timestamps, _lookback_start(np.datetime64(boundary, "ns"), self.lookback),
                                   side="left"))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


_DURATION = re.compile(r"^([1-9][0-9]*)([DWMY])$")


def _parse_lookback(value: Any) -> int | str:
    """An observation count (int, or digits) or a duration such as ``5Y``; anything else names the option."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        text = value.strip().upper()
        if not _DURATION.match(text):
            raise ConfigError(f"option 'lookback': {value!r} is neither a number of observations nor a duration "
                              "such as 730D, 8W, 24M or 5Y")
        return text
    return require_int("lookback", value, minimum=1)


@lru_cache(maxsize=None)
def _duration(lookback: str) -> pd.DateOffset:
    count, unit = int(lookback[:-1]), lookback[-1]
    return {"D": pd.DateOffset(days=count), "W": pd.DateOffset(weeks=count),
            "M": pd.DateOffset(months=count), "Y": pd.DateOffset(years=count)}[unit]


@lru_cache(maxsize=4096)
def _lookback_start(boundary: np.datetime64, lookback: str) -> np.datetime64:
    """When a lookback of ``lookback`` before ``boundary`` begins. pandas' calendar arithmetic took about
    0.1 ms a call, twice per variable and window (4% of a quarterly MLP batch), and every variable of a
    window asks about the same boundary."""
    return (pd.Timestamp(boundary) - _duration(lookback)).to_datetime64()
