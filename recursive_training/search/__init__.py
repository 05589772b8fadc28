"""Search instead of guess: grid files, named experiments, and the sweep that retrodicts and ranks them."""

from .grid import Experiment, GridFile, load_grid_file
from .naming import experiment_name, parse_experiment_name
from .sweep import PlannedRun, SweepPlan, plan_sweep, run_grid_search, summarize_sweep
from .tracking import log_sweep_to_mlflow

__all__ = ["Experiment", "GridFile", "PlannedRun", "SweepPlan", "experiment_name", "load_grid_file",
           "log_sweep_to_mlflow", "parse_experiment_name", "plan_sweep", "run_grid_search", "summarize_sweep"]
