"""Models, the rolling-origin engine and scoring; no Dask, no files."""

from .engine import WindowForecast, forecast_origins, retrodict_window
from .models import (
    MODEL_NAMES,
    AutoRegressive,
    ForecastModel,
    Naive,
    SeasonalNaive,
    make_model,
)
from .scoring import WindowScore, naive_scale, pool_scores, score_window
from .settings import RetrodictionSettings

__all__ = [
    "AutoRegressive",
    "ForecastModel",
    "MODEL_NAMES",
    "Naive",
    "RetrodictionSettings",
    "SeasonalNaive",
    "WindowForecast",
    "WindowScore",
    "forecast_origins",
    "make_model",
    "naive_scale",
    "pool_scores",
    "retrodict_window",
    "score_window",
]
