"""Model families and specs, the rolling-origin engine and scoring; no Dask, no files."""

from .engine import WindowForecast, first_occurrences, forecast_origins, retrodict_window
from .models import AutoRegressive, ForecastModel, Naive, SeasonalNaive
from .scoring import WindowScore, naive_scale, pool_scores, score_window, success_mask
from .settings import SCALE_RULE, RetrodictionSettings
from .specs import MODEL_FAMILIES, ModelFamily, ModelSpec, parse_model_specs, split_spec_list
from .windows import CALENDAR_PERIODS, GridWindow, WindowGrid

__all__ = [
    "AutoRegressive",
    "CALENDAR_PERIODS",
    "ForecastModel",
    "GridWindow",
    "MODEL_FAMILIES",
    "ModelFamily",
    "ModelSpec",
    "Naive",
    "RetrodictionSettings",
    "SCALE_RULE",
    "SeasonalNaive",
    "WindowForecast",
    "WindowGrid",
    "WindowScore",
    "first_occurrences",
    "forecast_origins",
    "naive_scale",
    "parse_model_specs",
    "pool_scores",
    "retrodict_window",
    "score_window",
    "split_spec_list",
    "success_mask",
]
