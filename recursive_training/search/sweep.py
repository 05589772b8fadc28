"""A grid search: every experiment of a grid file retrodicted, and the experiments ranked per variable.

Experiments that set the same run options differ only in their models, so
they are retrodicted as one run whose models are all of theirs: each
window's data is loaded once for all of them, their batches go to the
cluster as one stream, and trust is kept per model spec as in any run (a
spec two experiments share is computed and counted once). Experiments that
set different run options (lookback, horizon, ...) are separate runs, one
after another. Runs keep their journals, so Ctrl-C, SIGKILL and
``resume=True`` behave as for ``run``: nothing finished is recomputed or
counted twice.

The sweep directory holds ``search_config.yaml`` (the grid and its
experiments), the runs (``RUN_ID/journal.jsonl``, ``results.json``,
``report.html``) with their trust database, ``experiments/NAME/results.json``
(each experiment's own slice of its run's results) and
``results_summary.json``: per variable, every (experiment, spec) ranked by
the lower bound of its trust interval, then by MASE.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from ..base import ConfigError, atomic_write_bytes, store_root
from ..retrodiction.specs import DEFAULT_MODELS, ModelSpec, family_of, models_from_options, parse_model_specs
from .grid import Experiment, GridFile, load_grid_file
from .naming import parameter_hash

__all__ = ["PlannedRun", "SweepPlan", "plan_sweep", "run_grid_search", "summarize_sweep"]

DEFAULT_SWEEP_DIR = Path("retrodiction-sweeps")
SUMMARY_NAME = "results_summary.json"


@dataclass(frozen=True)
class PlannedRun:
    """Experiments sharing their run options, retrodicted together; ``options`` is the run's config mapping
    and ``specs`` each experiment's searched model specs (ids)."""

    run_id: str
    options: Mapping[str, Any]
    specs: Mapping[str, tuple[str, ...]]

    @property
    def results_path(self) -> Path:
        return Path(self.options["output_dir"]) / self.run_id / "results.json"


@dataclass(frozen=True)
class SweepPlan:
    grid: GridFile
    directory: Path
    experiments: tuple[Experiment, ...]
    runs: tuple[PlannedRun, ...]


def plan_sweep(grid: GridFile | str | Path, store_path: str | Path, output_dir: str | Path | None = None,
               **options: Any) -> SweepPlan:
    """Expand the grid and group its experiments into runs; every run's options are checked here, before
    anything runs. ``options`` are run options for every run (workers, scheduler_address, resume, ...)."""
    from ..config import TrainingConfig

    grid = grid if isinstance(grid, GridFile) else load_grid_file(grid)
    directory = Path(output_dir) if output_dir is not None else DEFAULT_SWEEP_DIR / (
        grid.source.stem if grid.source else "sweep")
    experiments = tuple(grid.generate_permutations())
    grouped: dict[str, list[Experiment]] = {}
    for experiment in experiments:
        grouped.setdefault(json.dumps(experiment.run_options, sort_keys=True, default=str), []).append(experiment)
    runs = []
    for members in grouped.values():
        run_options = {**grid.base, **members[0].run_options, **options}
        chosen = {experiment.name: _experiment_specs(experiment, run_options) for experiment in members}
        specs = {name: tuple(spec.id for spec in searched) for name, (searched, _) in chosen.items()}
        # spelled out in full, so the run's own defaults (epochs = 50 in [base]) cannot change them
        every_spec = list(dict.fromkeys(spec.explicit for _, every in chosen.values() for spec in every))
        run_id = f"run-{parameter_hash(members[0].run_options)}"
        mapping = {**{k: v for k, v in run_options.items() if k != "model"}, "models": every_spec,
                   "store_path": store_root(store_path), "output_dir": directory, "run_id": run_id}
        TrainingConfig.from_mapping(mapping)  # a bad option fails now, not after the first runs
        runs.append(PlannedRun(run_id, mapping, specs))
    return SweepPlan(grid, directory, experiments, tuple(runs))


def _experiment_specs(experiment: Experiment,
                      run_options: Mapping[str, Any]) -> tuple[list[ModelSpec], list[ModelSpec]]:
    """The experiment's searched models and all its models: the base's models with the
    experiment's family parameters set (a family the base lacks is added). The searched ones are those
    the parameters changed or added; all of them if it sets no model parameter."""
    defaults = {k.replace("-", "_"): v for k, v in run_options.items()}
    base = list(parse_model_specs(models_from_options(run_options.get("models", ()), run_options.get("model"))
                                  or DEFAULT_MODELS, defaults))
    searched: list[ModelSpec] = []
    for family, values in experiment.model_parameters.items():
        matching = [spec for spec in base if spec.family == family]
        if not matching:
            searched.append(family_of(family).spec(values, defaults))
        for spec in matching:
            base.remove(spec)
            searched.append(ModelSpec.create(family, **{**dataclasses.asdict(spec.parameters), **values}))
    every = list({spec.id: spec for spec in [*searched, *base]}.values())
    return (list({spec.id: spec for spec in searched}.values()) or every), every


def run_grid_search(grid: GridFile | str | Path, store_path: str | Path, output_dir: str | Path | None = None, *,
                    client: Any = None, run: Callable[[PlannedRun], int] | None = None,
                    mlflow_uri: str | None = None, register_best: bool = False, **options: Any) -> dict[str, Any]:
    """Retrodict every experiment of ``grid`` on ``store_path`` and rank them; returns the summary that
    ``results_summary.json`` holds. ``run`` replaces how one run is executed (the command line's, with
    its progress and signals); it returns an exit status, and a non-zero one ends the sweep there.
    ``mlflow_uri`` logs the finished experiments to MLflow (tracking.py); ``register_best`` fits each
    variable's best model on its latest data and keeps it in the sweep's model registry (best.py), whose
    ids the summary lists under ``registered``."""
    plan = plan_sweep(grid, store_path, output_dir, **options)
    if mlflow_uri is not None:
        _mlflow_available()  # before hours of work, not after
    started = [planned.run_id for planned in plan.runs
               if (plan.directory / planned.run_id / "journal.jsonl").is_file()]
    if started and not options.get("resume"):
        raise ConfigError(f"the sweep directory {plan.directory} already holds run {started[0]}; pass --resume "
                          "(resume=True) to continue the sweep, or choose another output directory")
    write_search_config(plan)
    for planned in plan.runs:
        status = (run or _run_here(client))(planned)
        if status:
            break
    summary = summarize_sweep(plan)
    if register_best and not summary["incomplete"]:
        from .best import register_best as fit_and_register

        summary["registered"] = fit_and_register(plan, summary)
        atomic_write_bytes(plan.directory / SUMMARY_NAME, json.dumps(summary, indent=1).encode())
    if mlflow_uri is not None:
        from .tracking import log_sweep_to_mlflow

        log_sweep_to_mlflow(mlflow_uri, plan, summary)
    return summary


def _mlflow_available() -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError("--mlflow-uri needs MLflow: pip install 'recursive-training[mlflow]'")


def _run_here(client: Any) -> Callable[[PlannedRun], int]:
    def run(planned: PlannedRun) -> int:
        from ..config import TrainingConfig
        from ..parallel_trainer import ParallelTrainingCoordinator

        coordinator = ParallelTrainingCoordinator(TrainingConfig.from_mapping(planned.options), client=client)
        summary = coordinator.start_training()
        coordinator.save_results_to_file()
        coordinator.write_report()
        return 1 if summary.batches.failed else 0
    return run


def write_search_config(plan: SweepPlan) -> Path:
    """``search_config.yaml``: the grid as read, and each experiment with its parameters, specs and run."""
    run_of = {name: planned for planned in plan.runs for name in planned.specs}
    document = {
        "grid_file": str(plan.grid.source) if plan.grid.source else None,
        "base": _plain(plan.grid.base),
        "grids": {name: {key: list(values) for key, values in table.items()} for name, table in plan.grid.grids.items()},
        "experiments": [{"name": e.name, "grid": e.grid, "params": _plain(e.params),
                         "models": list(run_of[e.name].specs[e.name]), "run_id": run_of[e.name].run_id}
                        for e in plan.experiments],
    }
    path = plan.directory / "search_config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, yaml.safe_dump(document, sort_keys=False).encode())
    return path


def summarize_sweep(plan: SweepPlan) -> dict[str, Any]:
    """Each experiment's slice of its run's results, and the ranking per variable; written to the sweep
    directory. A run that has not finished leaves its experiments out (listed as incomplete)."""
    ranked: dict[str, list[dict[str, Any]]] = {}
    incomplete = []
    for planned in plan.runs:
        variables = _finished_variables(planned.results_path)
        if variables is None:
            incomplete.extend(planned.specs)
            continue
        for name, specs in planned.specs.items():
            mine = {variable: {spec: by_spec[spec] for spec in specs if spec in by_spec}
                    for variable, by_spec in variables.items()}
            target = plan.directory / "experiments" / name / "results.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, json.dumps({"experiment": name, "run_id": planned.run_id, "models": specs,
                                                   "variables": mine}, indent=1).encode())
            for variable, by_spec in mine.items():
                for spec, outcome in by_spec.items():
                    trust, scores = outcome.get("trust") or {}, outcome.get("scores") or {}
                    if "low" not in trust:
                        continue
                    ranked.setdefault(variable, []).append({
                        "experiment": name, "spec": spec, "trust_low": trust["low"], "trust_mean": trust["mean"],
                        "trust_high": trust["high"], "origins": trust.get("origins"), "mase": scores.get("mase")})
    for entries in ranked.values():
        entries.sort(key=lambda e: (-e["trust_low"], _or_inf(e["mase"]), e["experiment"], e["spec"]))
    summary = {
        "directory": str(plan.directory),
        "experiments": [{"name": e.name, "grid": e.grid, "params": _plain(e.params)} for e in plan.experiments],
        "incomplete": incomplete,
        "best": {variable: {"experiment": entries[0]["experiment"], "spec": entries[0]["spec"]}
                 for variable, entries in sorted(ranked.items())},
        "variables": dict(sorted(ranked.items())),
    }
    plan.directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(plan.directory / SUMMARY_NAME, json.dumps(summary, indent=1).encode())
    return summary


def _finished_variables(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
        summary = results["summary"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"results {path}: cannot read ({exc})") from None
    batches = summary.get("batches", {})
    if batches.get("completed", 0) < batches.get("total", 0):
        return None
    return summary.get("variables", {})


def _or_inf(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.inf


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): (str(v) if isinstance(v, Path) else v) for k, v in mapping.items()}
