"""Model families and specs, the rolling-origin engine and scoring; no Dask, no files.

Loaded lazily: the command line reads model specs (specs.py needs numpy
only) before pandas is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "WindowForecast": ".engine",
    "first_occurrences": ".engine",
    "forecast_origins": ".engine",
    "retrodict_window": ".engine",
    "AutoRegressive": ".models",
    "ForecastModel": ".models",
    "Naive": ".models",
    "SeasonalNaive": ".models",
    "WindowScore": ".scoring",
    "naive_scale": ".scoring",
    "pool_scores": ".scoring",
    "score_window": ".scoring",
    "success_mask": ".scoring",
    "SCALE_RULE": ".settings",
    "RetrodictionSettings": ".settings",
    "DEFAULT_MODELS": ".specs",
    "MODEL_FAMILIES": ".specs",
    "ModelFamily": ".specs",
    "ModelSpec": ".specs",
    "models_from_options": ".specs",
    "parse_model_specs": ".specs",
    "split_spec_list": ".specs",
    "uses_torch": ".specs",
    "CALENDAR_PERIODS": ".windows",
    "GridWindow": ".windows",
    "WindowGrid": ".windows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return __all__
