"""A run's report: one self-contained HTML page of its trust, its errors, the chosen models and their forecasts."""

from __future__ import annotations

from .contents import MAX_PLOTTED_VARIABLES, ReportContents, TrustRow, gather
from .page import REPORT_NAME, render_report, write_report

__all__ = ["MAX_PLOTTED_VARIABLES", "REPORT_NAME", "ReportContents", "TrustRow", "gather", "render_report",
           "write_report"]
