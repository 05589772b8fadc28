"""The best model of each variable in a sweep, fitted on its latest data and kept in the model registry.

The best (experiment, spec) of a variable is the first of its ranking in
``results_summary.json``. Its trust key is the spec under that experiment's
run (its schedule and context), so the model is fitted exactly as it was
trusted: on the latest lookback of that schedule, by the forecast's own
recipe (``fit_and_forecast``), and registered with that trust and MASE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics import OptimizedTrustTracker, TrustKey

from ..base import TrustError
from ..layout import registry_in
from .sweep import SweepPlan

__all__ = ["register_best"]


def register_best(plan: SweepPlan, summary: dict[str, Any]) -> dict[str, str]:
    """Fit and register each variable's best model; returns the registry id by variable."""
    from ..config import TrainingConfig
    from ..data import open_store
    from ..forecasting.selection import choose_model
    from ..forecasting.tasks import fit_and_forecast
    from ..registry import ModelRegistry

    run_of = {name: planned for planned in plan.runs for name in planned.specs}
    registered: dict[str, str] = {}
    with ModelRegistry(registry_in(plan.directory)) as registry:
        for variable, best in summary["best"].items():
            config = TrainingConfig.from_mapping(run_of[best["experiment"]].options)
            key = TrustKey(variable, best["spec"], config.schedule_id, config.retrodiction.context_id)
            series = open_store(config.store_path, config.store_kind).load(variable)
            values = series.to_numpy(dtype=float)
            with OptimizedTrustTracker(config.trust_db_path) as tracker:
                choice = choose_model(variable, tracker.estimates([key], steps=False), tracker.forecast_errors,
                                      horizon=config.retrodiction.horizon,
                                      naive_mae=float(np.mean(np.abs(np.diff(values)))), min_origins=1)
            if isinstance(choice, str):
                raise TrustError(f"the best model of {variable} ({best['spec']}, experiment "
                                 f"{best['experiment']}) has no trust evidence in {config.trust_db_path}: {choice}")
            fitted = fit_and_forecast(variable, series, choice, config.retrodiction.horizon)
            entry = registry.register_model(
                fitted.model, fitted.spec, variable=variable, train_start=fitted.train_start,
                train_end=fitted.train_end, data_fingerprint=fitted.fingerprint, trust=choice.estimate,
                scores={"mase": choice.mase}, tags=["sweep-best", f"experiment:{best['experiment']}"])
            registered[variable] = entry.id
    return registered
