"""Forecasts from the models retrodiction trusts, with intervals calibrated by retrodiction.

Loaded lazily: the command line offers the selection rules without importing pandas.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {  # module: the names it gives the package
    ".forecast": (
        "COLUMNS", "LEVELS", "ForecastReport", "ForecastSettings", "forecast_with_trusted_models",
        "predict_with_registered_model",
    ),
    ".rules": ("SELECTION_RULES",),
    ".selection": ("Choice", "choose_model", "contenders"),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
