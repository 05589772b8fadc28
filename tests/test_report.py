"""The run report: its numbers against independent computations, and the page itself."""

from __future__ import annotations

import base64
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from analytics import OptimizedTrustTracker
from recursive_training import TrainingConfig, read_results, run_parallel_retrodiction_training
from recursive_training.forecasting import forecast_with_trusted_models
from recursive_training.report import gather, write_report

from .conftest import PYTHON, REPO, daily_frame, finished_run

MODELS = ("naive", "ar(order=3)", "seasonal_naive(season_length=7)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished in-process run of three daily series, its directory and its output directory."""
    return finished_run(tmp_path_factory.mktemp("report"), MODELS)


def test_every_run_writes_a_self_contained_report(run):
    page = (run / "runs" / "r1" / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 4 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page and "<script" not in page  # opens offline
    for variable in ("seasonal", "walk", "sine"):
        assert page.count(f"<td>{variable}</td>") == 1 + len(MODELS)  # the selected model, then every model
    for section in ("selected", "trust", "over-time", "by-step", "forecasts"):
        assert f"id='{section}'" in page


def test_trust_over_time_is_the_running_rate_window_by_window(run):
    contents = gather(run / "runs" / "r1" / "results.json", fans=False)
    results = read_results(run / "runs" / "r1" / "results.json")
    windows = sorted((b.result.start, o.score.successes, o.score.failures) for b in results.batches
                     for o in b.result.outcomes if (o.variable, o.model) == ("walk", "naive"))
    starts, rates = contents.trust_over_time[("walk", "naive")]
    assert [s.isoformat() for s in starts] == [w[0] for w in windows] and len(windows) == 5
    hits = misses = 0
    for (_, s, f), rate in zip(windows, rates):
        hits, misses = hits + s, misses + f
        assert rate == pytest.approx((1 + hits) / (2 + hits + misses))


def test_error_by_step_is_the_median_scaled_mae_over_variables(run):
    contents = gather(run / "runs" / "r1" / "results.json", fans=False)
    summary = read_results(run / "runs" / "r1" / "results.json").summary
    with OptimizedTrustTracker(run / "runs" / "trust.sqlite") as tracker:
        for spec in ("naive", "ar(order=3)"):
            per_variable = []
            for variable in ("seasonal", "walk", "sine"):
                key = summary.variables[variable][spec].trust.key
                errors = tracker.forecast_errors(key).errors
                scale = summary.variables[variable][spec].scores.naive_mae
                per_variable.append([np.mean(np.abs(errors[:, k])) / scale for k in range(3)])
            np.testing.assert_allclose(contents.scaled_error_by_step[spec], np.median(per_variable, axis=0))


def test_the_selected_models_and_fans_are_what_forecast_makes(run, tmp_path):
    contents = gather(run / "runs" / "r1" / "results.json")
    made = forecast_with_trusted_models(run / "store", 3, tmp_path / "f.csv", output_dir=run / "runs")
    assert {v: row.spec for v, row in contents.chosen.items()} == {v: c[0] for v, c in made.chosen.items()}
    for variable, frame in contents.forecasts.items():
        expected = made.frame[made.frame.variable == variable].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame.reset_index(drop=True)[expected.columns], expected, check_dtype=False)
        assert contents.history[variable].index[-1] == daily_frame().timestamp.max()
    assert len(contents.history["walk"]) == 60


def test_every_variable_is_chosen_and_only_the_plotted_are_forecast(run, monkeypatch):
    """The choice is made for each variable, one variable's errors at a time; the fans, and the errors kept
    for them, only for the variables plotted."""
    from recursive_training.report import contents as report_contents

    every = gather(run / "runs" / "r1" / "results.json")
    monkeypatch.setattr(report_contents, "MAX_PLOTTED_VARIABLES", 1)
    one = gather(run / "runs" / "r1" / "results.json")
    assert one.chosen == every.chosen and len(one.chosen) == 3
    assert list(one.forecasts) == one.plotted == ["seasonal"] and len(every.forecasts) == 3
    assert one.scaled_error_by_step == every.scaled_error_by_step


def test_no_report_option_and_an_unwritable_report_lose_nothing(run, tmp_path):
    options = dict(start_time="2021-01-01", end_time="2021-02-01", store_path=run / "store", batch_size_days=30,
                   max_workers=0, models=("naive",), horizon=3, lookback=200, output_dir=tmp_path)
    run_parallel_retrodiction_training(**options, run_id="quiet", report=False)
    assert (tmp_path / "quiet" / "results.json").is_file() and not (tmp_path / "quiet" / "report.html").exists()
    (tmp_path / "blocked" / "report.html").mkdir(parents=True)  # a directory where the page should go
    done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "run", "--store", str(run / "store"), "--start",
                           "2021-01-01", "--end", "2021-02-01", "--model", "naive", "--horizon", "3", "--workers", "0",
                           "--output-dir", str(tmp_path), "--run-id", "blocked", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "warning: no report: cannot write the report to" in done.stderr and "report:" not in done.stdout
    assert read_results(tmp_path / "blocked" / "results.json").summary.batches.completed == 2


def test_the_report_command(run, tmp_path):
    def cli(*args):
        return subprocess.run([PYTHON, str(REPO / "run_training.py"), "report", *map(str, args)],
                              capture_output=True, text=True, timeout=120)

    done = cli(run / "runs" / "r1", "--output", tmp_path / "again.html", "--no-forecasts")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"report: {tmp_path / 'again.html'}"
    assert (tmp_path / "again.html").read_text().count("<img") == 3  # no fan charts
    missing = cli(tmp_path / "nowhere")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no results file" in missing.stderr


def test_a_run_config_can_turn_the_report_off():
    assert TrainingConfig.from_mapping({"store_path": "s", "report": False}).report is False
    with pytest.raises(Exception, match="'report' must be true or false"):
        TrainingConfig.from_mapping({"store_path": "s", "report": "no"})


def test_write_report_names_a_missing_run(tmp_path):
    with pytest.raises(Exception, match="no results file"):
        write_report(tmp_path)
