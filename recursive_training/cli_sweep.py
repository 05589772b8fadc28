"""``run_training.py sweep ...``: every experiment of a parameter grid retrodicted, ranked per variable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .base import store_root

__all__ = ["add_sweep_parser", "run_sweep"]


def add_sweep_parser(commands: Any) -> None:
    from .run_training import _workers

    sweep = commands.add_parser(
        "sweep", help="retrodict every experiment of a parameter grid and rank them per variable",
        description="Expand a grid file into experiments, retrodict them (experiments that share their run "
                    "options run together, so each window is loaded once for all of them), and rank every "
                    "(experiment, model) per variable by its lower trust bound, then MASE.")
    sweep.add_argument("--grid", required=True, type=Path,
                       help="TOML or YAML grid file: [base] run options and [grid.NAME] tables of "
                            "parameter = [values to try] (run options such as lookback, or family.parameter "
                            "such as mlp.hidden_size)")
    sweep.add_argument("--store", required=True, type=store_root, help="store directory or URL (s3://bucket/prefix)")
    sweep.add_argument("--output-dir", type=Path,
                       help="the sweep directory (default retrodiction-sweeps/GRID_FILE_NAME)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_workers,
                       help="local Dask workers, auto (the default) or 0 to run in this process")
    where.add_argument("--scheduler", dest="scheduler_address", metavar="ADDRESS",
                       help="address of a running Dask scheduler instead of a local cluster")
    sweep.add_argument("--dashboard-port", type=int, help="local dashboard port, 0 = any free one (default 8787)")
    sweep.add_argument("--priority", type=int,
                       help="on a shared scheduler, run this sweep's batches before (higher) or after (lower) "
                            "other runs' (default 0: a background sweep can take -1, an urgent run 1)")
    sweep.add_argument("--resume", action="store_true",
                       help="continue an interrupted sweep: finished runs and batches are kept, not redone")
    sweep.add_argument("--no-progress", dest="progress", action="store_false", help="do not draw progress bars")
    sweep.add_argument("--no-report", dest="report", action="store_false",
                       help="do not write a report.html per run")
    sweep.add_argument("--register-best", action="store_true",
                       help="fit each variable's best model on its latest data and keep it in the model "
                            "registry of the sweep directory (models list --output-dir SWEEP_DIR)")
    sweep.add_argument("--mlflow-uri", metavar="URI",
                       help="log each experiment's parameters, scores, trust and report to MLflow, such as "
                            "file:./mlruns (a local store, no server; needs the mlflow extra)")


def run_sweep(args: argparse.Namespace) -> int:
    from .run_training import _execute, _resume_hint
    from .search import run_grid_search

    options = {key: value for key, value in (("workers", args.workers), ("scheduler_address", args.scheduler_address),
                                             ("dashboard_port", args.dashboard_port),
                                             ("priority", args.priority)) if value is not None}
    if args.resume:
        options["resume"] = True
    if not args.report:
        options["report"] = False
    statuses: list[int] = []

    def run(planned: Any) -> int:
        print(f"sweep: run {planned.run_id} for {len(planned.specs)} experiment(s): "
              f"{', '.join(planned.specs)}", file=sys.stderr, flush=True)
        statuses.append(_execute(dict(planned.options), args.progress, _resume_hint()))
        return statuses[-1]

    summary = run_grid_search(args.grid, args.store, args.output_dir, run=run, mlflow_uri=args.mlflow_uri,
                              register_best=args.register_best, **options)
    directory = Path(summary["directory"])
    print("\nvariable\tbest experiment\tmodel\ttrust low\tMASE")
    for variable, entries in summary["variables"].items():
        best = entries[0]
        mase = "-" if best["mase"] is None else f"{best['mase']:.3f}"
        print(f"{variable}\t{best['experiment']}\t{best['spec']}\t{best['trust_low']:.3f}\t{mase}")
    print(f"\nsweep: {directory} ({len(summary['experiments'])} experiments; "
          f"ranking in {directory / 'results_summary.json'})")
    if summary.get("registered"):
        print(f"sweep: the best model of {len(summary['registered'])} variable(s) registered in "
              f"{directory / 'registry'}")
    if args.mlflow_uri:
        print(f"sweep: experiments logged to MLflow at {args.mlflow_uri}")
    if summary["incomplete"]:
        print(f"sweep: {len(summary['incomplete'])} experiment(s) not finished: "
              f"{', '.join(summary['incomplete'])}", file=sys.stderr)
    return next((status for status in statuses if status), 0)
