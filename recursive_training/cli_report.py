"""``run_training.py report RUN_DIR``: a run's self-contained HTML report, written again from its files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_report_parser", "run_report"]


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="write a run's HTML report (trust, errors by step, selected "
                                                "models, forecasts) from its results, trust database and store")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run's directory (OUTPUT_DIR/RUN_ID)")
    report.add_argument("--output", type=Path, help="where the page goes (default RUN_DIR/report.html)")
    report.add_argument("--results", type=Path,
                        help="the run's results file, if it was written elsewhere with --output "
                             "(default RUN_DIR/results.json)")
    report.add_argument("--no-forecasts", dest="forecasts", action="store_false",
                        help="leave out the forecast fan charts (they refit each plotted variable's model)")


def run_report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"report: {write_report(args.run_dir, args.output, results=args.results, fans=args.forecasts)}")
    return 0
