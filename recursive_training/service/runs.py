"""The runs under an output directory, found by id without ever leaving that directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..base import DataError, UnknownRunError, is_plain_name

__all__ = ["list_runs", "run_directory", "run_summary", "latest_run"]
_BRIEF = ("run_id", "store", "start", "end", "models", "schedule", "context", "batches", "elapsed_seconds")


def run_directory(output_dir: Path, run_id: str) -> Path:
    """The directory of ``run_id`` inside ``output_dir``; an id that is not a plain name is simply unknown."""
    root = output_dir.resolve()
    if not is_plain_name(run_id):  # the rule a run id was made under: no path can be spelled with it
        raise UnknownRunError(f"no run {run_id!r} in {output_dir}")
    path = (root / run_id).resolve()
    if path.parent != root or not (path / "results.json").is_file():
        raise UnknownRunError(f"no run {run_id!r} in {output_dir}")
    return path


def run_summary(output_dir: Path, run_id: str) -> dict[str, Any]:
    """The run's summary as its results file holds it (a JSON object)."""
    return _summary(run_directory(output_dir, run_id) / "results.json")


def list_runs(output_dir: Path) -> list[dict[str, Any]]:
    """Every run with a results file, newest first: its id, range, models, batch counts and whether it has a
    report."""
    runs = []
    if not output_dir.is_dir():
        return runs
    for child in output_dir.iterdir():
        results = child / "results.json"
        if child.is_dir() and is_plain_name(child.name) and results.is_file():
            try:
                summary = _summary(results)
            except DataError:
                continue  # being written for the first time, or not ours: not a run to list
            runs.append({**{k: summary.get(k) for k in _BRIEF}, "run_id": child.name,
                         "variables": len(summary.get("variables") or {}),
                         "report": (child / "report.html").is_file(), "modified": results.stat().st_mtime})
    return sorted(runs, key=lambda run: run["modified"], reverse=True)


def latest_run(output_dir: Path) -> str:
    runs = list_runs(output_dir)
    if not runs:
        raise UnknownRunError(f"no run in {output_dir} yet: run a retrodiction first")
    return runs[0]["run_id"]


def _summary(results: Path) -> dict[str, Any]:
    try:
        summary = json.loads(results.read_text())["summary"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read {results}: {exc}") from None
    if not isinstance(summary, dict):
        raise DataError(f"{results} is not a results file of this tool")
    return summary
