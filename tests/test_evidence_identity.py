"""A forecast counts once in a trust database, whatever the batching, ranges, resumes or model lists.

Runs here are in-process (``workers=0``): the same worker task, journal and
trust database as on a cluster, without a cluster's start-up time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analytics import OptimizedTrustTracker
from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.base import ConfigError
from recursive_training.data import open_store
from recursive_training.planning import WorkEstimate, plan_batches
from recursive_training.worker_task import process_batch

BASE = {"models": ["naive", "ar(order=2)"], "horizon": 3, "lookback": 60, "batch_size_days": 30, "workers": 0}


def run(store_dir: Path, output_dir: Path, **options) -> ParallelTrainingCoordinator:
    config = TrainingConfig.from_mapping({"store_path": store_dir, "output_dir": output_dir, **BASE, **options})
    coordinator = ParallelTrainingCoordinator(config)
    coordinator.start_training()
    coordinator.save_results_to_file()
    return coordinator


def trust_table(path: Path) -> dict:
    """Every key's posterior, as exact numbers."""
    with OptimizedTrustTracker(path) as tracker:
        return {e.key: (e.successes, e.failures, e.origins, e.alpha, e.beta, e.low, e.high, e.design_effect)
                for e in tracker.estimates()}


def done_outcomes(journal: Path) -> list[tuple[str, str]]:
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    return [(o["variable"], o["model"]) for r in records if r.get("status") == "done" for o in r["result"]["outcomes"]]


def test_batches_planned_for_2_and_for_4_workers_count_once(store_dir, tmp_path):
    config = TrainingConfig.from_mapping({"store_path": store_dir, "start": "2020-04-01", "end": "2020-09-01",
                                          **BASE, "workers": 2})
    store = open_store(store_dir)
    infos = [store.info(v) for v in store.variables]
    grid, start, end = config.window_grid, config.start, config.end
    two, _ = plan_batches(infos, start, end, grid, 3, workers=2, estimate=WorkEstimate.of(config.retrodiction))
    four, _ = plan_batches(infos, start, end, grid, 1, workers=4, estimate=WorkEstimate.of(config.retrodiction))
    assert {b.batch_id for b in two} != {b.batch_id for b in four}  # really batched differently

    def evidence(batches):
        return [block for b in batches for block in process_batch(b, config, lambda chunk: None).evidence]

    once, both = OptimizedTrustTracker(), OptimizedTrustTracker()
    once.apply(evidence(two))
    both.apply(evidence(two))
    assert both.apply(evidence(four)) == 0  # every forecast of the second plan is already there
    assert [(e.key, e.alpha, e.beta, e.origins) for e in both.estimates()] == \
        [(e.key, e.alpha, e.beta, e.origins) for e in once.estimates()]
    assert len(once.estimates()) == 6


def test_overlapping_runs_and_a_resume_give_the_trust_of_one_run_over_the_union(store_dir, tmp_path):
    run(store_dir, tmp_path / "shared", start="2020-04-10", end="2020-08-20")
    run(store_dir, tmp_path / "shared", start="2020-06-05", end="2020-11-01")
    run(store_dir, tmp_path / "shared", start="2020-04-10", end="2020-11-01", run_id="union-again")
    run(store_dir, tmp_path / "alone", start="2020-04-10", end="2020-11-01")
    assert trust_table(tmp_path / "shared" / "trust.sqlite") == trust_table(tmp_path / "alone" / "trust.sqlite")


def test_a_resume_with_a_model_added_scores_only_that_model(store_dir, tmp_path):
    first = run(store_dir, tmp_path, start="2020-04-01", end="2020-07-01", run_id="grow")
    journal = first.config.run_dir / "journal.jsonl"
    before = done_outcomes(journal)
    assert {m for _, m in before} == {"naive", "ar(order=2)"}
    trust_before = trust_table(tmp_path / "trust.sqlite")
    grown = run(store_dir, tmp_path, start="2020-04-01", end="2020-07-01", run_id="grow", resume=True,
                models=["naive", "ar(order=2)", "seasonal_naive"])
    added = done_outcomes(journal)[len(before):]
    assert added and {m for _, m in added} == {"seasonal_naive"}
    assert len(added) == len(before) // 2  # one per (window, variable), as for each earlier model
    trust_after = trust_table(tmp_path / "trust.sqlite")
    assert {k: v for k, v in trust_after.items() if k.spec != "seasonal_naive"} == trust_before
    summary = grown.get_results_summary()
    assert set(summary.variables["walk"]) == {"naive", "ar(order=2)", "seasonal_naive"}
    dropped = run(store_dir, tmp_path, start="2020-04-01", end="2020-07-01", run_id="grow", resume=True,
                  models=["naive"])  # removing a model just stops it
    assert dropped.batches == [] and set(dropped.get_results_summary().variables["walk"]) == {"naive"}
    assert trust_table(tmp_path / "trust.sqlite") == trust_after


def test_a_resume_with_other_batching_finishes_only_what_is_missing(store_dir, tmp_path):
    config = TrainingConfig.from_mapping({"store_path": store_dir, "output_dir": tmp_path / "cut", **BASE,
                                          "start": "2020-04-01", "end": "2020-10-01", "run_id": "cut",
                                          "variables_per_batch": 1})
    coordinator = ParallelTrainingCoordinator(config)
    coordinator.start_training(lambda done, total, batch: done >= 7 and coordinator.stop_training())
    assert 7 <= sum(b.processed for b in coordinator.batches) < len(coordinator.batches)
    finished = len(done_outcomes(config.run_dir / "journal.jsonl"))
    resumed = run(store_dir, tmp_path / "cut", start="2020-04-01", end="2020-10-01", run_id="cut", resume=True,
                  variables_per_batch=3)
    units = done_outcomes(config.run_dir / "journal.jsonl")
    assert len(units) == 3 * 2 * 7  # 3 variables x 2 models x 7 windows, each computed once
    assert len(units) - finished == sum(len(b.variables) * 2 for b in resumed.batches)
    run(store_dir, tmp_path / "whole", start="2020-04-01", end="2020-10-01")
    assert trust_table(tmp_path / "cut" / "trust.sqlite") == trust_table(tmp_path / "whole" / "trust.sqlite")


@pytest.mark.parametrize("option,value", [("horizon", 5), ("lookback", 90), ("batch_size_days", 20),
                                          ("tolerance", 2.0), ("refit_every", 3)])
def test_a_resume_that_would_change_forecasts_is_refused_naming_the_option(store_dir, tmp_path, option, value):
    run(store_dir, tmp_path, start="2020-04-01", end="2020-05-15", run_id="fixed")
    with pytest.raises(ConfigError, match=f"option '{option}' differs from the run being resumed"):
        run(store_dir, tmp_path, start="2020-04-01", end="2020-05-15", run_id="fixed", resume=True,
            **{option: value})


def test_two_specs_of_one_family_and_two_horizons_keep_separate_posteriors(store_dir, tmp_path):
    both = run(store_dir, tmp_path, start="2020-04-01", end="2020-08-01", models=["ar(order=1)", "ar(order=6)"])
    entries = both.get_results_summary().variables["seasonal"]
    assert set(entries) == {"ar(order=1)", "ar(order=6)"}
    assert entries["ar(order=1)"].trust.mean != entries["ar(order=6)"].trust.mean
    longer = run(store_dir, tmp_path, start="2020-04-01", end="2020-08-01", models=["ar(order=1)"], horizon=5)
    five = longer.get_results_summary().variables["seasonal"]["ar(order=1)"].trust
    three = entries["ar(order=1)"].trust
    assert three.key.context.startswith("horizon=3,") and five.key.context.startswith("horizon=5,")
    alone = run(store_dir, tmp_path / "alone", start="2020-04-01", end="2020-08-01", models=["ar(order=1)"],
                horizon=5).get_results_summary().variables["seasonal"]["ar(order=1)"].trust
    assert five == alone  # the horizon-3 evidence in the same database did not pool into it


def test_a_changed_torch_setting_does_not_count_naive_again(store_dir, tmp_path):
    run(store_dir, tmp_path, start="2020-04-01", end="2020-05-01", models=["naive", "mlp"], epochs=2, run_id="a")
    naive_before = {k: v for k, v in trust_table(tmp_path / "trust.sqlite").items() if k.spec == "naive"}
    run(store_dir, tmp_path, start="2020-04-01", end="2020-05-01", models=["naive", "mlp"], epochs=3, run_id="b")
    table = trust_table(tmp_path / "trust.sqlite")
    assert {k: v for k, v in table.items() if k.spec == "naive"} == naive_before
    assert {k.spec for k in table} == {"naive", "mlp(epochs=2)", "mlp(epochs=3)"}


def test_config_file_sections_define_specs(store_dir, tmp_path):
    from recursive_training.config import load_config_file

    (tmp_path / "run.toml").write_text(
        'models = ["naive"]\n[model.ar]\norder = 4\n[model.short]\nfamily = "ar"\norder = 2\n')
    config = TrainingConfig.from_mapping({**load_config_file(tmp_path / "run.toml"), "store_path": store_dir})
    assert [s.id for s in config.retrodiction.models] == ["naive", "ar(order=4)", "ar(order=2)"]
    assert TrainingConfig.from_mapping(config.to_dict()) == config


def test_windows_do_not_move_with_the_run_start(store_dir, tmp_path):
    one = run(store_dir, tmp_path / "a", start="2020-04-03", end="2020-06-01")
    two = run(store_dir, tmp_path / "b", start="2020-04-17", end="2020-06-01")
    starts = lambda c: {b.window_start for b in c.batches}  # noqa: E731
    assert starts(two) <= starts(one) and all((s - pd.Timestamp("1970-01-01")).days % 30 == 0 for s in starts(one))


def test_four_runs_at_once_on_one_output_directory_add_up(store_dir, tmp_path):
    """Four command-line runs over overlapping ranges, started together, end with the trust of
    one run over their union: nothing lost to a concurrent writer, nothing counted twice."""
    import subprocess

    from .conftest import PYTHON, REPO

    ranges = [("2020-04-01", "2020-07-01"), ("2020-05-15", "2020-09-01"), ("2020-08-01", "2020-11-01"),
              ("2020-04-01", "2020-11-01")]
    common = ["--store", str(store_dir), "--model", "naive,ar(order=2)", "--horizon", "3", "--lookback", "60",
              "--batch-size-days", "30", "--workers", "0", "--no-progress"]
    runs = [subprocess.Popen([PYTHON, str(REPO / "run_training.py"), "run", *common, "--start", lo, "--end", hi,
                              "--output-dir", str(tmp_path / "shared")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for lo, hi in ranges]
    for process in runs:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    union = run(store_dir, tmp_path / "alone", start="2020-04-01", end="2020-11-01")
    assert trust_table(tmp_path / "shared" / "trust.sqlite") == trust_table(tmp_path / "alone" / "trust.sqlite")
    assert len(union.trust) == 6


def test_a_model_that_raises_fails_alone_and_a_fallback_scores_in_its_place(store_dir, tmp_path, monkeypatch):
    from recursive_training.retrodiction import models

    fit = models.AutoRegressive.fit

    def fails_on_the_seasonal_series(self, y):  # a fault injected into one (variable, model)
        if 80 < float(y.mean()) < 120:
            raise FloatingPointError("ill-conditioned design")
        return fit(self, y)

    monkeypatch.setattr(models.AutoRegressive, "fit", fails_on_the_seasonal_series)
    window = {"start": "2020-04-01", "end": "2020-07-01"}
    hurt = run(store_dir, tmp_path / "hurt", **window, run_id="hurt").get_results_summary()
    seasonal = hurt.variables["seasonal"]
    assert seasonal["ar(order=2)"].windows_failed == 4 and seasonal["ar(order=2)"].windows_scored == 0
    assert "FloatingPointError: ill-conditioned design" in seasonal["ar(order=2)"].failed[0]
    assert seasonal["naive"].windows_scored == 4  # the rest of each batch still scored and counted
    assert hurt.variables["walk"]["ar(order=2)"].windows_scored == 4
    assert len(hurt.failed_models) == 4 and hurt.batches.failed == 0
    keys = {(k.variable, k.spec) for k in trust_table(tmp_path / "hurt" / "trust.sqlite")}
    assert ("seasonal", "ar(order=2)") not in keys and ("walk", "ar(order=2)") in keys

    before = trust_table(tmp_path / "hurt" / "trust.sqlite")
    rescued = run(store_dir, tmp_path / "hurt", **window, run_id="rescued",
                  fallback_model="naive").get_results_summary()
    entry = rescued.variables["seasonal"]["ar(order=2)"]
    assert entry.windows_scored == entry.windows_by_fallback == 4 and entry.windows_failed == 0
    naive = rescued.variables["seasonal"]["naive"]
    assert entry.scores.to_dict() == naive.scores.to_dict()  # naive's forecasts exactly
    assert rescued.failed_models == ()
    # the fallback's evidence is naive's own, which the database holds already: trust is unchanged
    assert trust_table(tmp_path / "hurt" / "trust.sqlite") == before

    monkeypatch.setattr(models.AutoRegressive, "fit", fit)  # the fault is gone: a resume retries only it
    healed = run(store_dir, tmp_path / "hurt", **window, run_id="hurt", resume=True)
    assert {v for b in healed.batches for v in b.variables} == {"seasonal"}
    assert all(b.models == ("ar(order=2)",) for b in healed.batches)
    assert healed.get_results_summary().variables["seasonal"]["ar(order=2)"].windows_scored == 4
