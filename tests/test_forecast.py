"""Forecasts from the most trusted model, with intervals from the kept retrodiction errors."""

from __future__ import annotations

import math
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from analytics import OptimizedTrustTracker
from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.base import ConfigError, UnknownVariableError
from recursive_training.forecasting import COLUMNS, forecast_with_trusted_models
from recursive_training.registry import ModelRegistry
from recursive_training.retrodiction import parse_model_specs

from .conftest import PYTHON, REPO, daily_frame, dask_processes


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    """A store of three daily series and the trust of naive and ar(order=3) over 120 days, horizon 3."""
    from recursive_training.data import RecursiveDataStore

    root = tmp_path_factory.mktemp("forecast")
    RecursiveDataStore(root / "store", create=True).ingest(daily_frame())
    ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": root / "store", "start": "2021-01-01", "end": "2021-05-01", "batch_size_days": 30,
        "models": ("naive", "ar(order=3)"), "horizon": 3, "lookback": 200, "workers": 0,
        "output_dir": root / "runs"})).start_training()
    return root


def test_each_variable_gets_its_most_trusted_model_with_calibrated_intervals(trusted, tmp_path):
    output = tmp_path / "forecasts.csv"
    calls = []
    report = forecast_with_trusted_models(trusted / "store", 3, output, output_dir=trusted / "runs",
                                          progress=lambda done, total, group: calls.append((done, total, group)))
    frame = pd.read_csv(output, parse_dates=["timestamp"])
    assert list(frame.columns) == COLUMNS and len(frame) == 9 and not report.skipped
    assert calls[0] == (0, 3, None) and calls[-1][:2] == (3, 3)  # told at the start and as each group is done
    assert sorted(done.variable for _, _, group in calls[1:] for done in group) == ["seasonal", "sine", "walk"]
    with OptimizedTrustTracker(trusted / "runs" / "trust.sqlite") as tracker:
        estimates = tracker.estimates()
        for variable in ("seasonal", "walk", "sine"):
            best = max((e for e in estimates if e.variable == variable), key=lambda e: e.low)
            assert report.chosen[variable][0] == best.spec  # the highest lower trust bound
            rows = frame[frame.variable == variable]
            last = daily_frame().timestamp.max()
            assert list(rows.timestamp) == [last + pd.Timedelta(days=k) for k in (1, 2, 3)]
            # the point forecast: the chosen spec fitted on the last 200 observations, from the last origin
            from recursive_training.data import open_store

            values = open_store(trusted / "store").load(variable).to_numpy(dtype=float)
            spec = parse_model_specs([best.spec])[0]
            point = spec.build().fit(values[-200:]).predict(values, np.array([len(values) - 1]), 3)[0]
            np.testing.assert_allclose(rows.forecast, point, rtol=0, atol=1e-9)
            # the 80% interval at each step: the conformal order statistics of that step's kept errors
            kept = tracker.forecast_errors(best.key)
            for k in range(3):
                errors = np.sort(kept.errors[:, k])
                rank = math.ceil((len(errors) + 1) * 0.9)
                assert rows.lo_80.iloc[k] == pytest.approx(point[k] - errors[rank - 1], abs=1e-9)
                assert rows.hi_80.iloc[k] == pytest.approx(point[k] - errors[len(errors) - rank], abs=1e-9)
            assert (rows.lo_95 <= rows.lo_80).all() and (rows.hi_80 <= rows.hi_95).all()
    with ModelRegistry(trusted / "runs" / "registry") as registry:
        for variable, (spec, model_id) in report.chosen.items():
            entry = registry.get_model(model_id)
            assert (entry.variable, entry.spec_id) == (variable, spec)
            assert pd.Timestamp(entry.train_end) == daily_frame().timestamp.max()
            assert "forecast" in entry.tags and entry.scores["mase"] > 0


def test_a_half_life_weighs_the_calibrating_errors_toward_recent_origins(trusted, tmp_path):
    plain = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "p.csv", output_dir=trusted / "runs",
                                         variables=("walk",)).frame
    recent = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "r.csv", output_dir=trusted / "runs",
                                          variables=("walk",), interval_half_life_days=10.0).frame
    np.testing.assert_array_equal(recent.forecast, plain.forecast)
    with OptimizedTrustTracker(trusted / "runs" / "trust.sqlite") as tracker:
        best = max((e for e in tracker.estimates() if e.variable == "walk"), key=lambda e: e.low)
        kept = tracker.forecast_errors(best.key)
    age_days = (kept.origins.max() - kept.origins) / 86_400e9
    for k in range(3):
        errors, weights = kept.errors[:, k], 0.5 ** (age_days / 10.0)

        def smallest_reaching(values, share):  # the least v whose weight at or below it is share of all + 1
            return min(v for v in values if weights[values <= v].sum() >= share * (weights.sum() + 1))

        upper_error, lower_error = smallest_reaching(errors, 0.9), -smallest_reaching(-errors, 0.9)
        assert recent.lo_80.iloc[k] == pytest.approx(recent.forecast.iloc[k] - upper_error, abs=1e-9)
        assert recent.hi_80.iloc[k] == pytest.approx(recent.forecast.iloc[k] - lower_error, abs=1e-9)
    assert not np.allclose(recent.hi_95 - recent.lo_95, plain.hi_95 - plain.lo_95)


def test_a_seasonal_naive_model_gets_finite_intervals_at_every_step(tmp_path):
    """Its step-1 pairs were all counted first at step 3 of an earlier origin: the trust's counted mask holds
    no step-1 error, but every step has its own errors to calibrate on."""
    from recursive_training.data import RecursiveDataStore

    RecursiveDataStore(tmp_path / "store", create=True).ingest(daily_frame())
    spec = "seasonal_naive(season_length=3)"
    ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": tmp_path / "store", "start": "2021-01-01", "end": "2021-04-01", "batch_size_days": 30,
        "models": (spec,), "horizon": 3, "lookback": 30, "workers": 0,
        "output_dir": tmp_path / "runs"})).start_training()
    with OptimizedTrustTracker(tmp_path / "runs" / "trust.sqlite") as tracker:
        kept = tracker.forecast_errors(tracker.estimate("walk", spec).key)
    assert not kept.counted[:, 0].any() and np.isfinite(kept.errors[:, 0]).sum() >= 80
    frame = forecast_with_trusted_models(tmp_path / "store", 3, tmp_path / "f.csv", output_dir=tmp_path / "runs",
                                         variables=("walk",)).frame
    assert np.isfinite(frame[["lo_80", "hi_80", "lo_95", "hi_95"]].to_numpy()).all()
    step_one = np.sort(kept.errors[:, 0])
    rank = math.ceil((len(step_one) + 1) * 0.9)
    assert frame.lo_80.iloc[0] == pytest.approx(frame.forecast.iloc[0] - step_one[rank - 1], abs=1e-9)


def test_a_named_model_a_parquet_file_and_the_mase_rule(trusted, tmp_path):
    report = forecast_with_trusted_models(trusted / "store", 2, tmp_path / "f.parquet", output_dir=trusted / "runs",
                                          model="naive", variables=("walk",))
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert report.chosen["walk"][0] == "naive" and list(frame.model) == ["naive", "naive"]
    by_mase = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "m.csv", output_dir=trusted / "runs",
                                           select="mase")
    assert set(by_mase.chosen) == {"seasonal", "walk", "sine"}


def test_a_horizon_beyond_the_evidence_skips_every_variable_with_a_reason(trusted, tmp_path):
    report = forecast_with_trusted_models(trusted / "store", 5, tmp_path / "f.csv", output_dir=trusted / "runs")
    assert not report.chosen and set(report.skipped) == {"seasonal", "walk", "sine"}
    assert "for horizon 5" in report.skipped["walk"] and not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize("options, error, message", [
    ({"horizon": 0}, ConfigError, "horizon"),
    ({"output": "f.txt"}, ConfigError, "csv or .parquet"),
    ({"select": "best"}, ConfigError, "unknown rule 'best'"),
    ({"variables": ("nope",)}, UnknownVariableError, "nope"),
    ({"output_dir": "elsewhere"}, ConfigError, "no trust database"),
])
def test_bad_input_is_one_line_and_writes_nothing(trusted, tmp_path, options, error, message):
    arguments = {"horizon": 3, "output": tmp_path / "f.csv", "output_dir": trusted / "runs", **options}
    if "output" in options:
        arguments["output"] = tmp_path / options["output"]
    if "output_dir" in options:
        arguments["output_dir"] = tmp_path / options["output_dir"]
    with pytest.raises(error, match=message):
        forecast_with_trusted_models(trusted / "store", **arguments)
    assert not list(tmp_path.glob("f.*"))


def test_a_variable_with_almost_no_data_is_skipped_with_a_reason(trusted, tmp_path):
    import shutil

    from recursive_training.data import RecursiveDataStore

    shutil.copytree(trusted / "store", tmp_path / "store")
    RecursiveDataStore(tmp_path / "store").ingest(pd.DataFrame(
        {"timestamp": [pd.Timestamp("2021-06-01")], "variable": ["lonely"], "value": [1.0]}))
    report = forecast_with_trusted_models(tmp_path / "store", 3, tmp_path / "f.csv", output_dir=trusted / "runs",
                                          variables=("lonely", "walk"))
    assert report.skipped == {"lonely": "lonely has 1 observation(s); nothing to forecast from"}
    assert set(report.chosen) == {"walk"} and set(pd.read_csv(tmp_path / "f.csv").variable) == {"walk"}


def test_the_forecast_command(trusted, tmp_path):
    def cli(*args):
        return subprocess.run([PYTHON, str(REPO / "run_training.py"), "forecast", "--store", trusted / "store",
                               "--output-dir", trusted / "runs", *map(str, args)], capture_output=True, text=True,
                              timeout=120)

    done = cli("--horizon", "3", "--output", tmp_path / "f.csv", "--variables", "walk,sine")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"forecasts: {tmp_path / 'f.csv'} (6 rows)"
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]  # a log, not a terminal
    assert " 0/2 variables " in progress[0] and " 2/2 variables " in progress[-1] and progress[-1].endswith("done")
    quiet = cli("--horizon", "3", "--output", tmp_path / "q.csv", "--variables", "walk", "--no-progress")
    assert quiet.returncode == 0 and not any(line.startswith("[") for line in quiet.stderr.splitlines())
    skipped = cli("--horizon", "9", "--output", tmp_path / "g.csv")
    assert skipped.returncode == 1 and skipped.stderr.count("skipped:") == 3
    assert skipped.stderr.splitlines()[-1] == "error: no variable could be forecast; nothing was written"
    bad = cli("--horizon", "0", "--output", tmp_path / "h.csv")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "horizon" in bad.stderr


def test_predict_uses_the_registered_fit_on_the_newest_data(trusted, tmp_path):
    from recursive_training.base import UnknownModelError
    from recursive_training.data import RecursiveDataStore
    from recursive_training.forecasting import predict_with_registered_model

    refit = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "f.csv", output_dir=trusted / "runs",
                                         variables=("seasonal",))
    spec, model_id = refit.chosen["seasonal"]
    same = predict_with_registered_model(model_id, trusted / "store", 3, tmp_path / "p.csv",
                                         output_dir=trusted / "runs")
    pd.testing.assert_frame_equal(same.frame.reset_index(drop=True), refit.frame.reset_index(drop=True))
    newer = tmp_path / "newer"
    RecursiveDataStore(newer, create=True).ingest(daily_frame(620))  # 20 more days than the fit saw
    later = predict_with_registered_model(model_id, newer, 2, tmp_path / "q.parquet", output_dir=trusted / "runs")
    values = RecursiveDataStore(newer).load("seasonal").to_numpy(dtype=float)
    with ModelRegistry(trusted / "runs" / "registry") as registry:
        fitted = registry.load_model(model_id)
    np.testing.assert_array_equal(later.frame.forecast, fitted.predict(values, np.array([619]), 2)[0])
    assert later.frame.timestamp.iloc[0] == daily_frame(620).timestamp.max() + pd.Timedelta(days=1)
    assert later.frame.lo_95.notna().all() and not later.notes
    bare = predict_with_registered_model(model_id, newer, 2, tmp_path / "r.csv", output_dir=trusted / "runs",
                                         trust_db=tmp_path / "absent.sqlite")
    assert bare.frame.lo_80.isna().all() and "intervals are left empty" in bare.notes[0]
    with pytest.raises(UnknownModelError, match="no model 'feedbeef'"):
        predict_with_registered_model("feedbeef", newer, 2, tmp_path / "s.csv", output_dir=trusted / "runs")
    assert not (tmp_path / "s.csv").exists() and spec


def test_the_predict_command(trusted, tmp_path):
    report = forecast_with_trusted_models(trusted / "store", 2, tmp_path / "f.csv", output_dir=trusted / "runs",
                                          variables=("walk",))
    model_id = report.chosen["walk"][1]

    def cli(*args):
        return subprocess.run([PYTHON, str(REPO / "run_training.py"), "predict", "--store", trusted / "store",
                               "--output-dir", trusted / "runs", "--horizon", "2", *map(str, args)],
                              capture_output=True, text=True, timeout=120)

    done = cli("--model-id", model_id, "--output", tmp_path / "p.csv")
    assert done.returncode == 0 and done.stdout.strip() == f"forecasts: {tmp_path / 'p.csv'} (2 rows)", done.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "p.csv"), pd.read_csv(tmp_path / "f.csv"))
    unknown = cli("--model-id", "feedbeef", "--output", tmp_path / "q.csv")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1 and "no model 'feedbeef'" in unknown.stderr


def test_forecasts_on_a_cluster_equal_those_made_here(trusted, tmp_path, shared_client):
    here = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "here.csv", output_dir=trusted / "runs")
    there = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "there.csv", output_dir=trusted / "runs",
                                         client=shared_client)
    pd.testing.assert_frame_equal(there.frame, here.frame)
    assert there.chosen == here.chosen  # the same fits: the same registry ids
    assert shared_client.status == "running"  # a given client stays open


def test_only_the_candidates_that_can_win_are_read_and_they_choose_as_all_would():
    """A trust rule decides by the trust first: the coordinator reads and sends only the kept errors of the
    best-trusted usable candidates; among them MASE (which needs the series) breaks the tie as before."""
    from types import SimpleNamespace

    from analytics import TrustEstimate, TrustKey
    from recursive_training.forecasting import choose_model, contenders

    def estimate(spec, low, mean, origins=30):
        return TrustEstimate(TrustKey("v", spec, "s", "c"), mean, low, 0.99, 1.0, 1.0, 1, 1, origins, 1, 1.0, ())

    errors = {
        "best-but-no-errors": np.full((30, 3), np.nan),  # kept errors that cannot score 3 steps
        "tied-a": np.full((30, 3), 2.0), "tied-b": np.full((30, 3), 1.0),  # the same lower bound: MASE decides
        "worse": np.full((30, 3), 0.1), "short": np.full((30, 1), 0.1),  # a lower bound; too few steps
        "few": np.full((30, 3), 0.5),
    }
    estimates = [estimate("best-but-no-errors", 0.9, 0.9), estimate("tied-a", 0.6, 0.95), estimate("tied-b", 0.6, 0.7),
                 estimate("worse", 0.5, 0.8), estimate("short", 0.95, 0.95), estimate("few", 0.99, 0.99, origins=5)]
    read = []

    def errors_of(key):
        read.append(key.spec)
        return SimpleNamespace(origins=np.arange(30), errors=errors[key.spec])

    for rule, winner, shortlist in [("trust-low", "tied-b", {"tied-a", "tied-b"}), ("trust-mean", "tied-a", {"tied-a"}),
                                    ("mase", "worse", {"tied-a", "tied-b", "worse"})]:
        read.clear()
        kept = contenders(estimates, errors_of, horizon=3, rule=rule, min_origins=20)
        assert {e.spec for e, _ in kept} == shortlist, rule
        if rule == "trust-low":  # read in order of the lower bound until a tier has a usable candidate
            assert sorted(read) == ["best-but-no-errors", "few", "short", "tied-a", "tied-b"]
        whole = choose_model("v", estimates, errors_of, horizon=3, naive_mae=2.0, rule=rule)
        narrowed = choose_model("v", [e for e, _ in kept], errors_of, horizon=3, naive_mae=2.0, rule=rule)
        assert whole.key.spec == narrowed.key.spec == winner and whole.mase == narrowed.mase, rule
    assert contenders([estimate("few", 0.99, 0.99, origins=5)], errors_of, horizon=3) == []


@pytest.mark.slow
def test_the_forecast_command_on_its_own_local_cluster(trusted, tmp_path):
    done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "forecast", "--store", str(trusted / "store"),
                           "--output-dir", str(trusted / "runs"), "--horizon", "3", "--output", str(tmp_path / "c.csv"),
                           "--workers", "2", "--dashboard-port", "0"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    # the cluster takes seconds to start, a naive forecast milliseconds: the first variables are done here
    started_here = re.search(r"note: (\d+) of 3 variables forecast in this process while the cluster started",
                             done.stderr)
    assert started_here and 1 <= int(started_here[1]) <= 3, done.stderr
    written = pd.read_csv(tmp_path / "c.csv")
    assert not written.duplicated(["variable", "timestamp"]).any() and len(written) == 3 * 3  # each once
    here = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "h.csv", output_dir=trusted / "runs")
    pd.testing.assert_frame_equal(written, pd.read_csv(tmp_path / "h.csv"))
    assert here.chosen


@pytest.mark.slow
def test_the_forecast_command_on_a_running_scheduler(trusted, tmp_path):
    """``--scheduler``: a real `dask scheduler` and two `dask worker` processes fit and forecast every group,
    and the table is the one made here."""
    from distributed import Client

    with dask_processes(tmp_path) as cluster:
        done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "forecast", "--store", str(trusted / "store"),
                               "--output-dir", str(trusted / "runs"), "--horizon", "3", "--output",
                               str(tmp_path / "remote.csv"), "--scheduler", cluster.address],
                              capture_output=True, text=True, timeout=180)
        with Client(cluster.address, timeout="30s") as client:
            prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert done.returncode == 0, done.stderr
    assert "forecast_group" in prefixes  # the groups ran as the scheduler's tasks, not in the command
    assert "in this process while the cluster started" not in done.stderr  # no head start on a remote cluster
    here = forecast_with_trusted_models(trusted / "store", 3, tmp_path / "here.csv", output_dir=trusted / "runs")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "remote.csv"), pd.read_csv(tmp_path / "here.csv"))
    assert len(here.chosen) == 3


@pytest.mark.slow
def test_a_torch_forecast_on_our_own_cluster_never_imports_torch_here(tmp_path):
    """Importing torch here for a head start would take as long as the cluster's start: variables whose
    model needs torch all go to the workers, and this process stays free of torch."""
    from recursive_training.data import RecursiveDataStore

    RecursiveDataStore(tmp_path / "store", create=True).ingest(daily_frame())
    ParallelTrainingCoordinator(TrainingConfig.from_mapping({
        "store_path": tmp_path / "store", "start": "2021-03-01", "end": "2021-05-01", "batch_size_days": 30,
        "models": ("mlp(epochs=2)",), "horizon": 3, "lookback": 100, "workers": 0,
        "output_dir": tmp_path / "runs"})).start_training()
    code = f"""
import sys
from recursive_training.forecasting import forecast_with_trusted_models
report = forecast_with_trusted_models({str(tmp_path / "store")!r}, 3, {str(tmp_path / "f.csv")!r},
                                      output_dir={str(tmp_path / "runs")!r}, workers=2, dashboard_port=0)
print(sorted(spec for spec, _ in report.chosen.values()), report.notes, "torch" in sys.modules)
"""
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == f"{['mlp(epochs=2)'] * 3} [] False"
