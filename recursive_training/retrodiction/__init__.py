"""Model families and specs, the rolling-origin engine and scoring; no Dask, no files.

Loaded lazily: the command line reads model specs (specs.py needs numpy
only) before pandas is imported.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {  # module: the names it gives the package
    ".engine": ("WindowForecast", "first_occurrences", "forecast_origins", "retrodict_window",),
    ".models": ("AutoRegressive", "ForecastModel", "Naive", "SeasonalNaive",),
    ".scoring": ("ScorePool", "WindowScore", "naive_scale", "pool_scores", "score_window", "success_mask",),
    ".settings": ("SCALE_RULE", "RetrodictionSettings",),
    ".specs": (
        "DEFAULT_MODELS", "MODEL_FAMILIES", "ModelFamily", "ModelSpec", "models_from_options",
        "parse_model_specs", "split_spec_list", "uses_torch",
    ),
    ".windows": ("CALENDAR_PERIODS", "GridWindow", "WindowGrid",),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
