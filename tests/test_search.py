"""Grid files expand to named experiments; a sweep retrodicts them, counts each model once and ranks them."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import numpy as np
import pytest

from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.base import ConfigError
from recursive_training.data import RecursiveDataStore
from recursive_training.search import (
    GridFile,
    experiment_name,
    load_grid_file,
    parse_experiment_name,
    plan_sweep,
    run_grid_search,
)

from .conftest import PYTHON, REPO, daily_frame

ISSUE_GRID = """
[base]                 # any option of a run config file
start = "1990-01-01"
end = "2000-01-01"
batch_size_days = 365
horizon = 4

[grid.ar_orders]       # one table per grid: each key a parameter, each value the list to try
"ar.order" = [2, 4, 8]

[grid.mlp_width]
"mlp.hidden_size" = [16, 32]
"mlp.learning_rate" = [0.001, 0.01]
"""


def test_a_name_reads_as_its_parameters_and_gives_them_back():
    params = {"mlp.hidden_size": 64, "mlp.learning_rate": 0.01}
    name = experiment_name(params)
    assert name.startswith("mlp-h64-lr0.01-") and len(name.rsplit("-", 1)[1]) == 6
    assert parse_experiment_name(name) == params
    odd = {"lookback": "2Y", "start": "1990-01-01", "ar.order": 3, "mlp.learning_rate": 1e-05, "mlp.seed": 0,
           "worker_profiling": True, "window_period": "month"}
    back = parse_experiment_name(experiment_name(odd))
    assert back == odd and all(type(back[k]) is type(v) for k, v in odd.items())
    assert experiment_name({"ar.order": 3}) != experiment_name({"ar.order": 4})


def test_a_name_whose_parameters_were_changed_is_refused():
    name = experiment_name({"mlp.hidden_size": 64, "mlp.learning_rate": 0.01})
    with pytest.raises(ConfigError, match="hash does not match"):
        parse_experiment_name(name.replace("h64", "h65"))
    with pytest.raises(ConfigError, match="six-digit hex hash"):
        parse_experiment_name("mlp-h64")


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_the_issues_grid_file_expands_to_every_point_of_every_grid(tmp_path, suffix):
    path = tmp_path / f"grid{suffix}"
    if suffix == ".toml":
        path.write_text(ISSUE_GRID)
    else:
        path.write_text("base: {start: '1990-01-01', end: '2000-01-01', batch_size_days: 365, horizon: 4}\n"
                        "grid:\n  ar_orders: {ar.order: [2, 4, 8]}\n"
                        "  mlp_width: {mlp.hidden_size: [16, 32], mlp.learning_rate: [0.001, 0.01]}\n")
    grid = load_grid_file(path)
    assert grid.base == {"start": "1990-01-01", "end": "2000-01-01", "batch_size_days": 365, "horizon": 4}
    experiments = grid.generate_permutations()
    assert [e.params for e in experiments] == [
        {"ar.order": 2}, {"ar.order": 4}, {"ar.order": 8},
        {"mlp.hidden_size": 16, "mlp.learning_rate": 0.001}, {"mlp.hidden_size": 16, "mlp.learning_rate": 0.01},
        {"mlp.hidden_size": 32, "mlp.learning_rate": 0.001}, {"mlp.hidden_size": 32, "mlp.learning_rate": 0.01}]
    assert [e.grid for e in experiments] == ["ar_orders"] * 3 + ["mlp_width"] * 4
    assert all(parse_experiment_name(e.name) == e.params for e in experiments)


@pytest.mark.parametrize("text, message", [
    ("[base]\nhorizon = 4\n", "no \\[grid.NAME\\] table"),
    ("[grid.a]\n\"ar.order\" = []\n", "non-empty list"),
    ("[grid.a]\n\"ar.order\" = 3\n", "non-empty list"),
    ("[grid.a]\n\"ar.order\" = [3, 3]\n", "lists a value twice"),
    ("[grid.a]\nlookback = [\"365\"]\n", "would read back as 365"),
    ("[grid.a]\nmodels = [[\"ar\"]]\n", "cannot be searched over"),
    ("[grids.a]\nlookback = [\"1Y\"]\n", "unknown table 'grids'"),
    ("[grid.a\n", "malformed"),
])
def test_a_bad_grid_file_is_one_line_naming_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_grid_file(path)
    assert "\n" not in str(caught.value)


def test_an_unknown_parameter_fails_when_planned_before_anything_runs(tmp_path):
    grid = GridFile({"horizon": 3}, {"a": {"mlp.width": [8, 16]}})
    with pytest.raises(ConfigError, match="model 'mlp' has no parameter 'width'"):
        plan_sweep(grid, tmp_path / "store", tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    RecursiveDataStore(root / "store", create=True).ingest(daily_frame())
    return root


BASE = {"start": "2021-01-01", "end": "2021-05-01", "batch_size_days": 30, "horizon": 3, "lookback": 200,
        "models": ["naive", "ar"], "workers": 0, "report": False}


def test_a_sweep_counts_each_model_once_and_ranks_as_separate_runs_would(sweep_store, tmp_path):
    grid = GridFile(BASE, {"orders": {"ar.order": [2, 5]}, "lookbacks": {"lookback": [100]}})
    plan = plan_sweep(grid, sweep_store / "store", tmp_path / "sweep")
    # the two ar orders share the base's run options: one run, whose models are both orders and naive
    assert sorted(len(run.specs) for run in plan.runs) == [1, 2]
    shared = next(run for run in plan.runs if len(run.specs) == 2)
    assert sorted(shared.specs.values()) == [("ar(order=2)",), ("ar(order=5)",)]
    summary = run_grid_search(grid, sweep_store / "store", tmp_path / "sweep")
    # each experiment's trust equals that of a plain run of its model alone, elsewhere
    for order in (2, 5):
        alone = ParallelTrainingCoordinator(TrainingConfig.from_mapping({
            **BASE, "models": [f"ar(order={order})"], "store_path": sweep_store / "store",
            "output_dir": tmp_path / f"alone{order}"})).start_training().to_dict()["variables"]
        name = experiment_name({"ar.order": order})
        for variable, entries in summary["variables"].items():
            entry = next(e for e in entries if e["experiment"] == name)
            expected = alone[variable][f"ar(order={order})"]
            assert (entry["trust_low"], entry["mase"]) == (expected["trust"]["low"], expected["scores"]["mase"])
    for entries in summary["variables"].values():  # ranked by the lower trust bound, best first
        assert [e["trust_low"] for e in entries] == sorted((e["trust_low"] for e in entries), reverse=True)
        assert len(entries) == 2 + 2  # the two orders, and ar and naive under the 100-observation lookback
    assert summary["best"] == {v: {"experiment": e[0]["experiment"], "spec": e[0]["spec"]}
                               for v, e in summary["variables"].items()}
    sweep = tmp_path / "sweep"
    assert json.loads((sweep / "results_summary.json").read_text()) == summary
    own = json.loads((sweep / "experiments" / experiment_name({"ar.order": 2}) / "results.json").read_text())
    assert {spec for by_spec in own["variables"].values() for spec in by_spec} == {"ar(order=2)"}
    assert (sweep / "search_config.yaml").is_file() and (sweep / shared.run_id / "journal.jsonl").is_file()

    def evidence() -> int:
        with sqlite3.connect(sweep / "trust.sqlite") as db:
            return db.execute("SELECT SUM(LENGTH(origins) / 8) FROM evidence_blocks").fetchone()[0]  # origins

    before = evidence()
    again = run_grid_search(grid, sweep_store / "store", tmp_path / "sweep", resume=True)
    assert again == summary and evidence() == before  # resumed: nothing recomputed or counted twice


def test_the_best_model_of_each_variable_is_fitted_on_its_latest_data_and_registered(sweep_store, tmp_path):
    from recursive_training.data import open_store
    from recursive_training.registry import ModelRegistry
    from recursive_training.retrodiction import parse_model_specs

    grid = GridFile(BASE, {"orders": {"ar.order": [2, 5]}})
    summary = run_grid_search(grid, sweep_store / "store", tmp_path / "sweep", register_best=True)
    with ModelRegistry(tmp_path / "sweep" / "registry") as registry:
        for variable, best in summary["best"].items():
            entry = registry.get_model(summary["registered"][variable])
            ranked = summary["variables"][variable][0]
            assert (entry.variable, entry.spec_id) == (variable, best["spec"])
            assert entry.trust_low == pytest.approx(ranked["trust_low"])
            assert set(entry.tags) == {"sweep-best", f"experiment:{best['experiment']}"}
            values = open_store(sweep_store / "store").load(variable).to_numpy(dtype=float)
            refit = parse_model_specs([best["spec"]])[0].build().fit(values[-BASE["lookback"]:])  # latest lookback
            last = np.array([len(values) - 1])
            np.testing.assert_array_equal(registry.load_model(entry.id).predict(values, last, 3),
                                          refit.predict(values, last, 3))
    assert json.loads((tmp_path / "sweep" / "results_summary.json").read_text())["registered"] == \
        summary["registered"]


def test_a_sweep_logs_each_experiment_to_a_local_mlflow_store(sweep_store, tmp_path):
    from mlflow import MlflowClient

    uri = f"file:{tmp_path / 'mlruns'}"
    grid = GridFile({**BASE, "report": True}, {"orders": {"ar.order": [2, 5]}})
    summary = run_grid_search(grid, sweep_store / "store", tmp_path / "sweep", mlflow_uri=uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"sweep {(tmp_path / 'sweep').resolve()}")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == sorted(experiment_name({"ar.order": order}) for order in (2, 5))
    for order in (2, 5):
        run = runs[experiment_name({"ar.order": order})]
        assert run.data.params == {"ar.order": str(order), "models": f"ar(order={order})"}
        for variable, entries in summary["variables"].items():
            entry = next(e for e in entries if e["spec"] == f"ar(order={order})")
            key = f"{variable}.ar_order_{order}_"  # MLflow's keys take no parentheses or =
            assert run.data.metrics[f"{key}.trust_low"] == pytest.approx(entry["trust_low"])
            assert run.data.metrics[f"{key}.mase"] == pytest.approx(entry["mase"])
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"report.html", "results.json"}
    run_grid_search(grid, sweep_store / "store", tmp_path / "sweep", mlflow_uri=uri, resume=True)
    assert len(client.search_runs([experiment.experiment_id])) == 2  # the same runs, updated


@pytest.mark.slow
def test_the_sweep_command(sweep_store, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[base]\nstart = "2021-01-01"\nend = "2021-03-01"\nbatch_size_days = 30\nhorizon = 3\n'
                    'lookback = 200\nmodels = ["naive"]\n\n[grid.orders]\n"ar.order" = [2, 3]\n')
    command = [PYTHON, str(REPO / "run_training.py"), "sweep", "--grid", str(grid), "--store",
               str(sweep_store / "store"), "--output-dir", str(tmp_path / "out"), "--workers", "0", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("variable\tbest experiment\tmodel\ttrust low\tMASE\n")[1].split("\n\n")[0]
    best = json.loads((tmp_path / "out" / "results_summary.json").read_text())["best"]
    assert sorted(line.split("\t")[:3] for line in table.splitlines()) == \
        sorted([v, b["experiment"], b["spec"]] for v, b in best.items())
    assert sorted(p.name for p in (tmp_path / "out" / "experiments").iterdir()) == \
        sorted(experiment_name({"ar.order": order}) for order in (2, 3))
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "pass --resume" in again.stderr.strip().splitlines()[-1]
    bad = subprocess.run([*command[:3], "--grid", str(tmp_path / "missing.toml"), *command[5:]],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.strip() == f"error: grid file {tmp_path / 'missing.toml'}: no such file"


@pytest.mark.slow
def test_a_sweep_killed_mid_run_resumes_to_the_undisturbed_ranking(sweep_store, tmp_path):
    """SIGKILL in the second run: the first run's results and the second's finished batches are kept,
    and --resume ends with the ranking and the evidence of a sweep nobody stopped."""
    import os
    import signal
    import time

    grid = tmp_path / "grid.toml"
    grid.write_text('[base]\nstart = "2021-01-01"\nend = "2021-05-01"\nbatch_size_days = 20\nhorizon = 3\n'
                    'lookback = 200\nvariables_per_batch = 1\nmodels = ["naive", "mlp(epochs=40)"]\n\n'
                    '[grid.orders]\n"ar.order" = [2, 3]\n\n[grid.lookbacks]\nlookback = [100]\n')

    def sweep(output: str, *extra: str, **popen: object) -> subprocess.Popen:
        return subprocess.Popen([PYTHON, str(REPO / "run_training.py"), "sweep", "--grid", str(grid), "--store",
                                 str(sweep_store / "store"), "--output-dir", str(tmp_path / output), "--workers",
                                 "0", "--no-progress", "--no-report", *extra], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **popen)

    plan = plan_sweep(load_grid_file(grid), sweep_store / "store", tmp_path / "killed")
    first, second = (tmp_path / "killed" / run.run_id for run in plan.runs)
    process = sweep("killed", start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        journal = second / "journal.jsonl"
        if journal.is_file() and len(journal.read_text().splitlines()) >= 3:  # a header and 2 batches
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    assert (first / "results.json").is_file() and not (second / "results.json").is_file()
    resumed = sweep("killed", "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    undisturbed = sweep("undisturbed")
    _, err = undisturbed.communicate(timeout=300)
    assert undisturbed.returncode == 0, err
    killed, clean = (json.loads((tmp_path / name / "results_summary.json").read_text())
                     for name in ("killed", "undisturbed"))
    assert killed["variables"] == clean["variables"] and killed["best"] == clean["best"]

    def evidence(name: str) -> int:
        with sqlite3.connect(tmp_path / name / "trust.sqlite") as db:
            return db.execute("SELECT SUM(LENGTH(origins) / 8) FROM evidence_blocks").fetchone()[0]  # origins

    assert evidence("killed") == evidence("undisturbed") > 0  # nothing counted twice
