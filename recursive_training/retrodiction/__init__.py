"""Model families and specs, the rolling-origin engine and scoring; no Dask, no files.

Loaded lazily: the command line reads model specs (specs.py needs numpy
only) before pandas is imported.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
