"""The web API and page over an output directory: ``run_training.py serve``."""

from __future__ import annotations

from .app import create_app
from .jobs import ForecastJobs, ForecastRequest
from .runs import list_runs, run_directory, run_summary

__all__ = ["ForecastJobs", "ForecastRequest", "create_app", "list_runs", "run_directory", "run_summary"]
