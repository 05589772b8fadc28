"""Forecasts from the models retrodiction trusts, with intervals calibrated by retrodiction.

Loaded lazily: the command line offers the selection rules without importing pandas.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {
    "COLUMNS": ".forecast",
    "LEVELS": ".forecast",
    "ForecastReport": ".forecast",
    "ForecastSettings": ".forecast",
    "forecast_with_trusted_models": ".forecast",
    "predict_with_registered_model": ".forecast",
    "SELECTION_RULES": ".rules",
    "Choice": ".selection",
    "choose_model": ".selection",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
