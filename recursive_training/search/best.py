"""The best model of each variable in a sweep, fitted on its latest data and kept in the model registry.

The best (experiment, spec) of a variable is the first of its ranking in
``results_summary.json``. Its trust key is the spec under that experiment's
run (its schedule and context), so the model is fitted exactly as it was
trusted: on the latest lookback of that schedule, by the forecast's own
step (``forecast_variable``), and registered with that trust and MASE.
"""

from __future__ import annotations

from typing import Any

from analytics import OptimizedTrustTracker

from ..base import TrustError
from ..layout import registry_in
from .sweep import SweepPlan

__all__ = ["register_best"]


def register_best(plan: SweepPlan, summary: dict[str, Any]) -> dict[str, str]:
    """Fit and register each variable's best model; returns the registry id by variable."""
    from ..config import TrainingConfig
    from ..data import open_store
    from ..forecasting.tasks import Candidates, Rule, Skipped, forecast_variable
    from ..registry import ModelRegistry

    run_of = {name: planned for planned in plan.runs for name in planned.specs}
    registered: dict[str, str] = {}
    with ModelRegistry(registry_in(plan.directory)) as registry:
        for variable, best in summary["best"].items():
            config = TrainingConfig.from_mapping(run_of[best["experiment"]].options)
            key = config.trust_key(variable, best["spec"])
            rule = Rule(config.retrodiction.horizon, spec=best["spec"], min_origins=1)
            with OptimizedTrustTracker(config.trust_db_path) as tracker:
                candidates = Candidates.of(variable, tracker.estimates([key], steps=False), tracker.forecast_errors,
                                           rule)
            done = forecast_variable(open_store(config.store_path, config.store_kind), rule, candidates)
            if isinstance(done, Skipped):
                raise TrustError(f"the best model of {variable} ({best['spec']}, experiment "
                                 f"{best['experiment']}) cannot be fitted from {config.trust_db_path}: {done.reason}")
            entry, = registry.register_many([done.registration(["sweep-best", f"experiment:{best['experiment']}"])])
            registered[variable] = entry.id
    return registered
