"""The web page at ``/``: the runs with their reports, the newest report's trust plot and forecast chart,
the registered models, and a forecast form.

Self-contained like the reports (no network); its one script posts the
form to ``/forecasts`` and polls the job until its table is ready.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..summary import format_number

__all__ = ["index_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
form { display: flex; gap: 12px; align-items: end; flex-wrap: wrap; }
label { display: flex; flex-direction: column; font-size: 13px; }
#forecast-state { margin: 0.5em 0; font-weight: 600; }
img { max-width: 100%; }
"""

_SCRIPT = """
document.getElementById('forecast-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {horizon: Number(form.get('horizon')), select: form.get('select')};
  const variables = form.get('variables').split(/[\\s,]+/).filter(Boolean);
  if (variables.length) body.variables = variables;
  if (form.get('run_id')) body.run_id = form.get('run_id');
  const state = document.getElementById('forecast-state');
  const table = document.getElementById('forecast-rows');
  table.innerHTML = '';
  const started = await fetch('/forecasts', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                             body: JSON.stringify(body)});
  let job = await started.json();
  if (!started.ok) { state.textContent = 'refused: ' + JSON.stringify(job.detail); return; }
  state.textContent = 'forecast ' + job.id + ': ' + job.status;
  while (job.status === 'queued' || job.status === 'running') {
    await new Promise((done) => setTimeout(done, 300));
    job = await (await fetch('/forecasts/' + job.id)).json();
    state.textContent = 'forecast ' + job.id + ': ' + job.status;
  }
  if (job.status !== 'done') { state.textContent += ' (' + job.error + ')'; return; }
  const columns = ['variable', 'timestamp', 'model', 'forecast', 'lo_80', 'hi_80', 'lo_95', 'hi_95'];
  const head = table.createTHead().insertRow();
  for (const c of columns) { head.insertCell().outerHTML = '<th>' + c + '</th>'; }
  const rows = table.createTBody();
  for (const r of job.forecasts) {
    const row = rows.insertRow();
    for (const c of columns) {
      const v = r[c];
      row.insertCell().textContent = typeof v === 'number' && c !== 'timestamp' ? v.toFixed(3) : v;
    }
  }
});
"""


def index_page(output_dir: Path, runs: list[dict[str, Any]], models: list[dict[str, Any]],
               newest_report: tuple[str, str] | None = None) -> str:
    """``newest_report``: (run id, report page) of the newest run that has one, whose plots are shown here."""
    from ..report import FAN_CHART, TRUST_PLOT, embedded_figures

    e = html.escape
    run_rows = "".join(
        f"<tr><td>{e(r['run_id'])}</td><td>{e(str(r['start']))[:10]} to {e(str(r['end']))[:10]}</td>"
        f"<td>{e(', '.join(r['models'] or []))}</td><td>{r['variables']}</td>"
        f"<td>{(r['batches'] or {}).get('completed', '-')}/{(r['batches'] or {}).get('total', '-')}</td>"
        f"<td>{_report_link(r)}</td></tr>" for r in runs)
    model_rows = "".join(
        f"<tr><td><code>{e(m['id'])}</code></td><td>{e(m['variable'])}</td><td>{e(m['spec_id'])}</td>"
        f"<td>{format_number(m['trust_low'])}</td><td>{e(m['train_end'][:10])}</td><td>{e(m['status'])}</td>"
        f"<td>{e(', '.join(m['tags']))}</td></tr>" for m in models)
    shown = ""
    if newest_report is not None:
        run_id, page = newest_report
        figures = embedded_figures(page)
        shown = (f"<section id='newest'><h2>Run {e(run_id)}</h2><p><a href='{_report_url(run_id)}'>The whole "
                 "report</a>: trust window by window, error by horizon step, tables.</p>"
                 f"<h3>Trust per variable and model</h3>{figures.get(TRUST_PLOT, '<p>no trust plot</p>')}"
                 f"<h3>Forecasts of the selected models</h3>{figures.get(FAN_CHART, '<p>no forecasts</p>')}"
                 "</section>")
    run_options = "".join(f"<option value='{e(r['run_id'])}'>{e(r['run_id'])}</option>" for r in runs)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>recursive-training: {e(str(output_dir))}"
        f"</title><style>{_STYLE}</style></head><body><h1>Runs in {e(str(output_dir))}</h1>"
        + (f"<table id='runs'><thead><tr><th>run</th><th>period</th><th>models</th><th>variables</th><th>batches</th>"
           f"<th>report</th></tr></thead><tbody>{run_rows}</tbody></table>" if runs else "<p>No runs yet.</p>")
        + shown
        + "<h2>Forecast with the trusted models</h2>"
        "<form id='forecast-form'><label>run<select name='run_id'>" + run_options + "</select></label>"
        "<label>horizon<input name='horizon' type='number' min='1' value='7' required></label>"
        "<label>variables (blank: all)<input name='variables' size='30'></label>"
        "<label>rule<select name='select'><option>trust-low</option><option>trust-mean</option>"
        "<option>mase</option></select></label><button type='submit'>Forecast</button></form>"
        "<div id='forecast-state'></div><table id='forecast-rows'></table>"
        "<h2>Registered models</h2>"
        + (f"<table id='models'><thead><tr><th>id</th><th>variable</th><th>model</th><th>trust low</th>"
           f"<th>trained to</th><th>status</th><th>tags</th></tr></thead><tbody>{model_rows}</tbody></table>"
           if models else "<p>No registered models yet: a forecast registers the models it fits.</p>")
        + "<p>API: <code>/runs</code>, <code>/trust</code>, <code>/models</code>, <code>/models/search</code>, "
          "<code>/forecasts</code>; described at <code>/openapi.json</code>.</p>"
        f"<script>{_SCRIPT}</script></body></html>")


def _report_link(run: dict[str, Any]) -> str:
    if not run["report"]:
        return "-"
    return f"<a href='{_report_url(run['run_id'])}'>report</a>"


def _report_url(run_id: str) -> str:
    return html.escape(f"/runs/{quote(run_id, safe='')}/report")
