"""A sweep's experiments logged to MLflow (the optional ``mlflow`` extra): parameters, scores, trust, report.

One MLflow experiment per sweep directory, one MLflow run per grid
experiment, found again by its experiment name, so a resumed sweep updates
its runs instead of adding more (metrics are logged again as a new step;
MLflow shows the latest). A local file store (``file:./mlruns``) needs no
server.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..base import ConfigError, one_line
from .sweep import SweepPlan

__all__ = ["log_sweep_to_mlflow"]

_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")  # what MLflow accepts in a metric key


def log_sweep_to_mlflow(uri: str, plan: SweepPlan, summary: dict[str, Any]) -> dict[str, str]:
    """Log every finished experiment of ``plan`` to the MLflow tracking store at ``uri``; returns the
    MLflow run id by experiment name."""
    if uri.startswith("file:") or "://" not in uri:  # a local directory: what this option is for
        # MLflow 3 keeps its file store only on request ("maintenance mode"); asking for one by URI is that
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return _log(MlflowClient(tracking_uri=uri), plan, summary)
    except MlflowException as exc:
        raise ConfigError(f"MLflow at {uri}: {one_line(exc)}") from None


def _log(client: Any, plan: SweepPlan, summary: dict[str, Any]) -> dict[str, str]:
    name = f"sweep {plan.directory.resolve()}"
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(name)
    run_of = {experiment: planned for planned in plan.runs for experiment in planned.specs}
    logged: dict[str, str] = {}
    for experiment in plan.experiments:
        if experiment.name in summary["incomplete"]:
            continue
        previous = client.search_runs([experiment_id], f"tags.experiment = '{experiment.name}'", max_results=1)
        run_id = previous[0].info.run_id if previous else client.create_run(
            experiment_id, run_name=experiment.name, tags={"experiment": experiment.name, "grid": experiment.grid}
        ).info.run_id
        if not previous:
            for key, value in experiment.params.items():
                client.log_param(run_id, key, value)
            client.log_param(run_id, "models", ", ".join(run_of[experiment.name].specs[experiment.name]))
        mine = [(variable, entry) for variable, entries in summary["variables"].items()
                for entry in entries if entry["experiment"] == experiment.name]
        for variable, entry in mine:
            key = _METRIC_NAME.sub("_", f"{variable}.{entry['spec']}")
            client.log_metric(run_id, f"{key}.trust_low", entry["trust_low"])
            client.log_metric(run_id, f"{key}.trust_mean", entry["trust_mean"])
            if entry["mase"] is not None:
                client.log_metric(run_id, f"{key}.mase", entry["mase"])
        if mine:
            client.log_metric(run_id, "mean_trust_low", sum(e["trust_low"] for _, e in mine) / len(mine))
        planned = run_of[experiment.name]
        for artifact in (Path(planned.options["output_dir"]) / planned.run_id / "report.html",
                         plan.directory / "experiments" / experiment.name / "results.json"):
            if artifact.is_file():
                client.log_artifact(run_id, str(artifact))
        client.set_terminated(run_id)
        logged[experiment.name] = run_id
    return logged
