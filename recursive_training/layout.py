"""Where a run's files live under its output directory: named once for run, forecast, predict and models."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_OUTPUT_DIR", "metrics_db_in", "registry_in", "trust_db_in"]

DEFAULT_OUTPUT_DIR = Path("retrodiction-runs")


def trust_db_in(output_dir: str | Path) -> Path:
    return Path(output_dir) / "trust.sqlite"


def metrics_db_in(output_dir: str | Path) -> Path:
    return Path(output_dir) / "metrics.sqlite"


def registry_in(output_dir: str | Path) -> Path:
    return Path(output_dir) / "registry"
