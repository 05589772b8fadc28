"""``run_training.py forecast ...`` (the most trusted model of each variable, fitted now) and
``run_training.py predict ...`` (a registered model as it was fitted)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .base import store_root
from .layout import DEFAULT_OUTPUT_DIR

__all__ = ["add_forecast_parser", "run_forecast", "run_predict"]


def add_forecast_parser(commands: Any) -> None:
    from .forecasting.rules import SELECTION_RULES

    forecast = commands.add_parser("forecast", help="forecast with each variable's most trusted model, "
                                                    "with intervals calibrated by retrodiction")
    _common(forecast)
    forecast.add_argument("--variables", nargs="+", metavar="NAME", help="variables to forecast (default: all)")
    choice = forecast.add_mutually_exclusive_group()
    choice.add_argument("--model", metavar="SPEC", help="forecast every variable with this model spec")
    choice.add_argument("--select", choices=SELECTION_RULES, default="trust-low",
                        help="how the model is chosen: the highest lower trust bound (default), the highest "
                             "trust mean, or the lowest MASE; ties by MASE")
    forecast.add_argument("--min-origins", type=int, default=20,
                          help="origins of trust evidence a model needs to be chosen (default 20)")
    where = forecast.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=0,
                       help="fit on a local Dask cluster of N workers, one task per group of variables "
                            "(default 0: in this process)")
    where.add_argument("--scheduler", dest="scheduler_address", metavar="ADDRESS",
                       help="fit on a running Dask scheduler instead (every worker must see the store path)")
    forecast.add_argument("--dashboard-port", type=int, default=8787,
                          help="local dashboard port with --workers, 0 = any free one (default 8787)")
    forecast.add_argument("--no-progress", dest="progress", action="store_false",
                          help="do not draw a progress bar")

    predict = commands.add_parser("predict", help="forecast with a registered model as it was fitted, on the "
                                                  "newest data (no refit)")
    predict.add_argument("--model-id", required=True, metavar="ID", help="the registered model (models list)")
    _common(predict)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=store_root, help="store directory or URL (s3://bucket/prefix)")
    parser.add_argument("--horizon", required=True, type=int, help="steps to forecast past the last observation")
    parser.add_argument("--output", required=True, type=Path,
                        help="where the forecasts go: FILE.csv or FILE.parquet (one row per variable and time)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"where the trust database and the registry are (default {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--trust-db", type=Path, help="trust database (default OUTPUT_DIR/trust.sqlite)")
    parser.add_argument("--interval-half-life-days", type=float, metavar="DAYS",
                        help="weigh the retrodiction errors that calibrate the intervals toward recent origins, "
                             "halving every DAYS of data time (default: all origins alike)")


def run_predict(args: argparse.Namespace) -> int:
    from .forecasting import predict_with_registered_model

    report = predict_with_registered_model(args.model_id, args.store, args.horizon, args.output,
                                           output_dir=args.output_dir, trust_db=args.trust_db,
                                           interval_half_life_days=args.interval_half_life_days)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"forecasts: {report.output} ({len(report.frame)} rows)")
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    from .config_file import split_names
    from .forecasting import forecast_with_trusted_models
    from .progress import ProgressBar

    report = forecast_with_trusted_models(
        args.store, args.horizon, args.output, progress=ProgressBar(unit="variables") if args.progress else None,
        output_dir=args.output_dir, trust_db=args.trust_db,
        variables=tuple(split_names(args.variables)),
        model=args.model, select=args.select, min_origins=args.min_origins,
        interval_half_life_days=args.interval_half_life_days, workers=args.workers,
        scheduler_address=args.scheduler_address, dashboard_port=args.dashboard_port)
    for variable, (spec, model_id) in report.chosen.items():
        print(f"{variable}: {spec} (registered as {model_id})")
    for reason in report.skipped.values():
        print(f"skipped: {reason}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if not report.chosen:
        print("error: no variable could be forecast; nothing was written", file=sys.stderr)
        return 1
    print(f"forecasts: {report.output} ({len(report.frame)} rows)")
    return 0
