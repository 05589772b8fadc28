"""The report's plots, drawn with matplotlib (Agg) and embedded as base64 PNG so the page needs no network.

Each function takes gathered numbers (contents.py) and returns one PNG as
a ``data:`` URI; none reads a file.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .contents import ReportContents

__all__ = ["trust_figure", "trust_over_time_figure", "error_by_step_figure", "fan_figure"]

COLUMNS = 3
DPI = 80


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display here, and none wanted
    import matplotlib.pyplot as plt

    return plt


def _grid(count: int, height: float = 2.2, left: float = 0.05):
    plt = _pyplot()
    rows = max(1, math.ceil(count / COLUMNS))
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(4.2 * COLUMNS, height * rows), squeeze=False)
    # fixed margins: tight_layout measured every label and took as long as the drawing
    figure.subplots_adjust(left=left, right=0.98, bottom=0.6 / (height * rows), top=1 - 0.35 / (height * rows),
                           wspace=0.45 if left > 0.05 else 0.2, hspace=0.6)
    for axis in axes.flat[count:]:
        axis.set_visible(False)
    return figure, list(axes.flat[:count])


def _png(figure) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _colours(specs: list[str]) -> dict[str, str]:
    palette = _pyplot().get_cmap("tab10")
    return {spec: palette(i % 10) for i, spec in enumerate(specs)}


def trust_figure(contents: "ReportContents") -> str:
    """Per variable: each spec's trust with its 95% credible interval; the chosen spec in bold."""
    variables = contents.plotted
    figure, axes = _grid(len(variables), height=0.7 + 0.32 * max(1, len({r.spec for r in contents.trust})), left=0.1)
    for axis, variable in zip(axes, variables):
        rows = sorted((r for r in contents.trust if r.variable == variable), key=lambda r: r.mean)
        chosen = contents.chosen.get(variable)
        for y, row in enumerate(rows):
            mine = chosen is not None and row.spec == chosen.spec
            axis.errorbar(row.mean, y, xerr=[[row.mean - row.low], [row.high - row.mean]], fmt="o",
                          color="black" if mine else "tab:blue", capsize=2, markersize=4)
        axis.set_yticks(range(len(rows)), [r.spec for r in rows], fontsize=7,
                        fontweight="normal")
        for label, row in zip(axis.get_yticklabels(), rows):
            if chosen is not None and row.spec == chosen.spec:
                label.set_fontweight("bold")
        axis.set_xlim(0, 1)
        axis.set_title(variable, fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
    return _png(figure)


def trust_over_time_figure(contents: "ReportContents") -> str:
    """Per variable: the running success rate of each spec, window by window."""
    variables = contents.plotted
    colours = _colours(sorted({r.spec for r in contents.trust}))
    figure, axes = _grid(len(variables))
    for axis, variable in zip(axes, variables):
        for (v, spec), (starts, rates) in sorted(contents.trust_over_time.items()):
            if v == variable:
                axis.plot(starts, rates, marker=".", color=colours.get(spec, "grey"), label=spec, linewidth=1)
        axis.set_ylim(0, 1)
        axis.set_title(variable, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.tick_params(axis="x", rotation=30)
    if axes:
        axes[0].legend(fontsize=6, loc="lower left")
    return _png(figure)


def error_by_step_figure(contents: "ReportContents") -> str:
    """Each spec's error at each horizon step, scaled by the one-step naive MAE (median over variables)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.2))
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.95)
    colours = _colours(sorted(contents.scaled_error_by_step))
    for spec, errors in contents.scaled_error_by_step.items():
        axis.plot(range(1, len(errors) + 1), errors, marker="o", color=colours[spec], label=spec)
    axis.set_xlabel("horizon step")
    axis.set_ylabel("mean |error| / naive MAE")
    axis.legend(fontsize=7)
    return _png(figure)


def fan_figure(contents: "ReportContents") -> str:
    """Per forecast variable: its recent history and the forecast with 80% and 95% intervals."""
    variables = [v for v in contents.plotted if v in contents.forecasts]
    figure, axes = _grid(len(variables))
    for axis, variable in zip(axes, variables):
        history, frame = contents.history[variable], contents.forecasts[variable]
        axis.plot(history.index, history.to_numpy(), color="black", linewidth=1)
        axis.fill_between(frame.timestamp, frame.lo_95, frame.hi_95, color="tab:blue", alpha=0.2, linewidth=0)
        axis.fill_between(frame.timestamp, frame.lo_80, frame.hi_80, color="tab:blue", alpha=0.35, linewidth=0)
        axis.plot(frame.timestamp, frame.forecast, color="tab:blue", linewidth=1.5)
        axis.set_title(f"{variable}: {frame.model.iloc[0]}", fontsize=9)
        axis.tick_params(labelsize=7)
        axis.tick_params(axis="x", rotation=30)
    return _png(figure)
