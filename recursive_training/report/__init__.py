"""A run's report: one self-contained HTML page of its trust, its errors, the chosen models and their forecasts."""

from __future__ import annotations

from .contents import MAX_PLOTTED_VARIABLES, ReportContents, TrustRow, gather
from .page import FAN_CHART, REPORT_NAME, TRUST_PLOT, embedded_figures, render_report, write_report

__all__ = ["FAN_CHART", "MAX_PLOTTED_VARIABLES", "REPORT_NAME", "ReportContents", "TRUST_PLOT", "TrustRow",
           "embedded_figures", "gather", "render_report", "write_report"]
