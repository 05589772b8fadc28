"""What a retrodiction computes: models, horizon, origins, training span, scoring."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import ConfigError
from ..validation import require_float, require_int

__all__ = ["RetrodictionSettings"]


@dataclass(frozen=True)
class RetrodictionSettings:
    """Validated settings shared by the engine, the models and the scoring.

    ``horizon``, ``step``, ``lookback`` and ``season_length`` count
    observations, not calendar time, exactly as DESIGN.md defines origins.
    ``refit_every = 0`` fits once per window on the data before it.
    """

    models: tuple[str, ...] = ("naive", "seasonal_naive", "ar")
    horizon: int = 7
    step: int = 1
    lookback: int = 365
    refit_every: int = 0
    tolerance: float = 1.0
    season_length: int = 7
    ar_order: int = 7
    lags: int = 14
    hidden_size: int = 32
    epochs: int = 150
    learning_rate: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        from .models import MODEL_NAMES  # models import settings for typing only

        models = tuple(self.models)
        if not models:
            raise ConfigError("option 'models' needs at least one model")
        unknown = [m for m in models if m not in MODEL_NAMES]
        if unknown:
            raise ConfigError(
                f"option 'models': unknown model {unknown[0]!r}; "
                f"choose from {', '.join(MODEL_NAMES)}"
            )
        if len(set(models)) != len(models):
            raise ConfigError(f"option 'models' lists a model twice: {', '.join(models)}")
        object.__setattr__(self, "models", models)
        for name in ("horizon", "step", "lookback", "season_length", "ar_order", "lags",
                     "hidden_size", "epochs"):
            require_int(name, getattr(self, name), minimum=1)
        require_int("refit_every", self.refit_every, minimum=0)
        require_int("seed", self.seed, minimum=0)
        require_float("tolerance", self.tolerance, minimum=0.0, inclusive=False)
        require_float("learning_rate", self.learning_rate, minimum=0.0, inclusive=False)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
