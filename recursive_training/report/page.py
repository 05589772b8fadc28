"""The report as one self-contained HTML file: tables and embedded plots, no script, no network."""

from __future__ import annotations

import html
import re
from pathlib import Path

from ..base import DataError, atomic_write_bytes
from ..records import RunResults
from ..summary import format_number
from .contents import MAX_PLOTTED_VARIABLES, ReportContents, TrustRow, gather

__all__ = ["render_report", "write_report", "embedded_figures", "REPORT_NAME", "TRUST_PLOT", "FAN_CHART"]

REPORT_NAME = "report.html"
TRUST_PLOT, TRUST_OVER_TIME, ERROR_BY_STEP, FAN_CHART = (
    "trust per variable and model", "trust over time", "error by horizon step", "forecast fan charts")
_FIGURE = re.compile(r"<img alt='([^']+)' src='(data:image/png;base64,[A-Za-z0-9+/=]+)'>")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
.note { color: #8a5a00; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 14px; }
dt { font-weight: 600; }
"""


def write_report(run_dir: str | Path, output: str | Path | None = None, *,
                 results: str | Path | RunResults | None = None, fans: bool = True) -> Path:
    """Write the run's report (default RUN_DIR/report.html) from its results (default the file
    RUN_DIR/results.json), the trust database and the store; return where it went."""
    run_dir = Path(run_dir)
    if not isinstance(results, RunResults):
        results = Path(results) if results is not None else run_dir / "results.json"
        if not results.is_file():
            raise DataError(f"no results file at {results}: is {run_dir} a run directory?")
    target = Path(output) if output is not None else run_dir / REPORT_NAME
    page = render_report(gather(results, fans=fans))
    try:
        atomic_write_bytes(target, page.encode("utf-8"))
    except OSError as exc:
        raise DataError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    return target


def render_report(contents: ReportContents) -> str:
    """The HTML page of ``contents``."""
    from . import figures

    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Run {e(contents.run_id)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>Run {e(contents.run_id)}</h1><dl>"]
    for label, value in [("store", contents.store), ("period", contents.period), ("trained by", contents.schedule),
                         ("scored by", contents.context), ("horizon", str(contents.horizon)),
                         ("variables", str(len(contents.variables)))]:
        parts.append(f"<dt>{e(label)}</dt><dd>{e(value)}</dd>")
    parts.append("</dl>")
    parts += [f"<p class='note'>{e(note)}</p>" for note in contents.notes]
    if not contents.trust:
        parts.append("<p>No trust estimates: the run scored nothing.</p></body></html>")
        return "".join(parts)
    if len(contents.variables) > MAX_PLOTTED_VARIABLES:
        parts.append(f"<p class='note'>The plots show the first {MAX_PLOTTED_VARIABLES} of "
                     f"{len(contents.variables)} variables by name; the tables list all.</p>")
    parts.append("<h2 id='selected'>Selected model per variable</h2><p>The model <code>forecast</code> would "
                 "use (the highest lower bound of the 95% trust interval among models with enough evidence).</p>")
    parts.append(_table(["variable", "model", "trust", "95% interval", "MASE"],
                        [[v, row.spec, format_number(row.mean), _interval(row), format_number(row.mase)]
                         for v, row in sorted(contents.chosen.items())]
                        + [[v, f"none: {why}", "", "", ""] for v, why in sorted(contents.not_chosen.items())]))
    parts.append("<h2 id='trust'>Trust per variable and model</h2><p>Posterior mean and 95% credible interval of "
                 "each model's success rate; the selected model in black.</p>"
                 + _img(TRUST_PLOT, figures.trust_figure(contents)))
    parts.append(_table(["variable", "model", "trust", "95% interval", "MASE", "windows"],
                        [[r.variable, r.spec, format_number(r.mean), _interval(r), format_number(r.mase),
                          str(r.windows)] for r in contents.trust]))
    parts.append("<h2 id='over-time'>Trust over time</h2><p>Running success rate after each window "
                 "(Beta(1, 1) posterior mean of the points scored so far).</p>"
                 + _img(TRUST_OVER_TIME, figures.trust_over_time_figure(contents)))
    if contents.scaled_error_by_step:
        steps = len(next(iter(contents.scaled_error_by_step.values())))
        parts.append("<h2 id='by-step'>Error by horizon step</h2><p>Mean absolute retrodiction error at each step, "
                     "divided by the variable's one-step naive MAE; median over variables.</p>"
                     + _img(ERROR_BY_STEP, figures.error_by_step_figure(contents)))
        parts.append(_table(["model", *(f"step {k}" for k in range(1, steps + 1))],
                            [[spec, *map(format_number, errors)]
                             for spec, errors in contents.scaled_error_by_step.items()]))
    if contents.forecasts:
        parts.append(f"<h2 id='forecasts'>Forecasts</h2><p>The selected model fitted on the latest data, "
                     f"{contents.horizon} steps ahead, with 80% and 95% intervals calibrated by the "
                     "retrodiction's errors; recent history in black.</p>"
                     + _img(FAN_CHART, figures.fan_figure(contents)))
    parts.append("</body></html>")
    return "".join(parts)


def embedded_figures(page: str) -> dict[str, str]:
    """The plots of a report page, by name (``TRUST_PLOT``, ``FAN_CHART``, ...): each an ``<img>`` tag, as
    the web page shows them beside the runs without drawing them again."""
    return {match[1]: match[0] for match in _FIGURE.finditer(page)}


def _interval(row: TrustRow) -> str:
    return f"[{format_number(row.low)}, {format_number(row.high)}]"


def _img(name: str, data_uri: str) -> str:
    return f"<img alt='{name}' src='{data_uri}'>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f"<td class='n'>{e(c)}</td>" if c[:1].isdigit() or c[:1] in "-[" else f"<td>{e(c)}</td>" for c in row)
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
