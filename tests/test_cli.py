"""The command line, run as a user runs it: a real process, real files, a real cluster."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from recursive_training import read_results

from .conftest import PYTHON, REPO, daily_frame

pytestmark = pytest.mark.cluster


def cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(REPO / "run_training.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    frame = daily_frame(500)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(root / "wide.csv", index=False)
    done = cli("ingest", "wide.csv", "--store", "store", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "1500 new rows of 3 variable(s)" in done.stdout
    return root


def test_help_lists_the_commands(tmp_path):
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("ingest", "run", "demo", "catalog"):
        assert command in done.stdout
    run_help = cli("run", "--help", cwd=tmp_path).stdout
    assert "--batch-size-days" in run_help and "--scheduler" in run_help and "--resume" in run_help


def test_catalog(workspace):
    done = cli("catalog", "--store", "store", cwd=workspace)
    lines = done.stdout.splitlines()
    assert lines[0].split("\t") == ["variable", "first", "last", "observations", "frequency"]
    assert [line.split("\t")[0] for line in lines[1:]] == ["seasonal", "sine", "walk"]
    assert lines[1].split("\t")[3:] == ["500", "D"]


def test_run_with_config_file_and_overriding_flags(workspace):
    (workspace / "run.toml").write_text(
        'store_path = "store"\nmodels = ["naive", "seasonal_naive"]\nhorizon = 3\nbatch_size_days = 30\n'
        'start = "2020-10-01"\nend = "2021-01-01"\n')
    done = cli("run", "--config", "run.toml", "--horizon", "4", "--workers", "2", "--dashboard-port", "0",
               "--output", "out/results.json", "--output-dir", "runs", cwd=workspace)
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert table[0] == ("scored by horizon=4,step=1,tolerance=1.0,scale=naive-mae; "
                        "trained by window=30D,lookback=365,refit_every=0")
    assert table[1].split() == ["variable", "model", "trust", "95%", "interval", "succ/fail", "deff", "MASE", "skill",
                                "windows"]
    assert sum(line.startswith(("seasonal ", "sine ", "walk ")) for line in table) == 6
    # the 30-day grid from 1970 cuts the range at 10-05, 11-04 and 12-04: four batches of 3 variables x 30
    # origins x 2 fit-free models (3 us an origin each): 0.54 ms, too small to split and worth a warning
    assert "4/4 batches 100%" in done.stderr
    assert "warning: batches are small (about 0.54 ms of model work each, 4 batches)" in done.stderr
    results = json.loads((workspace / "out" / "results.json").read_text())
    assert results["config"]["horizon"] == 4
    assert results["config"]["models"] == ["naive", "seasonal_naive(season_length=7)"]  # spelled out in full
    assert results["summary"]["batches"]["completed"] == 4
    scored = results["batches"][0]["result"]["outcomes"][0]["score"]
    assert scored["n"] == scored["n_origins"] * 4


def test_usage_errors_are_one_line_with_exit_2(tmp_path):
    done = cli("run", "--horizon", "soon", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "invalid int value: 'soon'" in done.stderr
    done = cli("run", "--store", "s", "--colour", "red", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: unrecognized arguments: --colour red (see run_training.py run --help)\n"


def test_demo_runs_on_the_bundled_sample(tmp_path):
    done = cli("demo", "--output-dir", tmp_path / "demo", "--dashboard-port", "0", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[3:]
            if line and not line.startswith(("results", "trust", "report"))]
    assert len(rows) == 6 * 4  # six sample variables x four models
    report = Path(done.stdout.splitlines()[-1].removeprefix("report: "))
    assert (tmp_path / report).read_text().count("<img") == 4
    assert "warning" not in done.stderr
    # the local cluster starts while the first batches run here; its link is shown once it is up
    assert done.stderr.count("Dask dashboard: http://127.0.0.1:") == 1 and "ssh -N -L" in done.stderr
    trust = {(r[0], r[1]): float(r[2]) for r in rows}
    # the sample is built so that seasonal structure is learnable and a random walk is not
    assert trust[("retail_sales", "ar")] > trust[("retail_sales", "naive")] + 0.3
    assert trust[("stock_index", "naive")] > trust[("stock_index", "seasonal_naive")]


def test_the_original_tools_flags_work(workspace):
    done = cli("run", "--store", "store", "--start-date", "2020-11-01", "--end-date", "2020-12-01",
               "--batch-size-days", "30", "--model", "naive", "--max-workers", "2", "--no-dask", "--use-dask",
               "--output-file", "orig/results.json", "--output-dir", "orig-runs", "--no-progress", cwd=workspace)
    assert done.returncode == 0, done.stderr
    results = json.loads((workspace / "orig" / "results.json").read_text())
    assert results["config"]["start"].startswith("2020-11-01") and results["config"]["end"].startswith("2020-12-01")
    assert results["config"]["workers"] == 0 and results["summary"]["dashboard_link"] is None  # --no-dask wins
    assert "warning" not in done.stderr  # no Dask, so no per-task overhead to warn about


def test_every_option_of_every_command_has_help():
    from recursive_training.run_training import build_parser

    def check(parser, path):
        for action in parser._actions:
            assert action.help, (path, action.option_strings or action.dest)
            subcommands = action.choices if isinstance(action.choices, dict) else {}
            for name, sub in subcommands.items():
                if hasattr(sub, "_actions"):  # a subcommand, at any depth (models list, ...)
                    check(sub, f"{path} {name}")

    check(build_parser(), "run_training.py")


def test_a_busy_dashboard_port_is_one_line(workspace):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("run", "--store", "store", "--start", "2020-12-01", "--end", "2021-01-01", "--model", "naive",
                   "--workers", "1", "--dashboard-port", str(port), "--output-dir", "busy", "--no-progress",
                   cwd=workspace)
    assert done.returncode == 0, done.stderr
    assert f"dashboard port {port} is busy; the dashboard is on port" in done.stderr
    assert "Perhaps you already have a cluster running" not in done.stderr and "warnings.warn" not in done.stderr


def test_mixed_frequencies_run_with_the_default_lookback(tmp_path):
    """Weekly, monthly and quarterly variables in one store: the default lookback of 365 observations is
    longer than the quarterly history (203), so it is capped at what there is instead of refusing."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    parts = [pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq=freq), "variable": name,
                           "value": np.cumsum(rng.normal(size=n))})
             for name, start, n, freq in [("weekly", "1991-01-06", 1560, "W"), ("monthly", "1961-01-01", 720, "MS"),
                                          ("quarterly", "1970-01-01", 203, "QS")]]
    pd.concat(parts).assign(timestamp=lambda f: f["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
        tmp_path / "long.csv", index=False)
    assert cli("ingest", "long.csv", "--store", "store", cwd=tmp_path).returncode == 0
    again = cli("ingest", "long.csv", "--store", "store", cwd=tmp_path)
    assert again.returncode == 0 and "nothing new, all 2483 rows are already in store" in again.stdout
    done = cli("run", "--store", "store", "--start", "2012-01-01", "--model", "naive,ar(order=2)", "--workers", "0",
               "--no-progress", "--output-dir", "runs", "--horizon", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = read_results(next((tmp_path / "runs").glob("*/results.json"))).summary
    assert set(summary.variables) == {"weekly", "monthly", "quarterly"}
    assert all(pair.windows_scored > 0 for pair in summary.variables["quarterly"].values())


def test_log_dir_holds_the_coordinators_and_dasks_messages(workspace):
    done = cli("run", "--store", "store", "--start", "2020-12-01", "--end", "2021-01-01", "--model", "naive",
               "--workers", "1", "--dashboard-port", "0", "--output-dir", "logged", "--run-id", "logged",
               "--log-dir", "logs", "--log-level", "info", "--batch-limit", "1", "--no-progress", cwd=workspace)
    assert done.returncode == 0, done.stderr
    log = (workspace / "logs" / "logged.log").read_text()
    assert "INFO recursive_training.parallel_trainer: run logged: 1 batches to run" in log  # --batch-limit 1
    assert "INFO distributed." in log  # the scheduler's own messages
    assert "log: logs/logged.log" in done.stderr and "INFO" not in done.stderr  # the file, not the terminal


def test_workers_auto_prints_its_choice_in_one_line(workspace):
    done = cli("run", "--store", "store", "--start", "2020-11-01", "--end", "2020-12-01", "--model", "naive",
               "--workers", "auto", "--no-progress", "--output-dir", "auto", cwd=workspace)
    assert done.returncode == 0, done.stderr
    choice = [line for line in done.stderr.splitlines() if line.startswith("workers auto: ")]
    assert len(choice) == 1 and choice[0].endswith("running them in this process")
    assert "Dask dashboard" not in done.stderr
    wrong = cli("run", "--store", "store", "--workers", "fast", cwd=workspace)
    assert wrong.returncode == 2 and "expected a whole number or auto, got 'fast'" in wrong.stderr


def test_ingesting_many_variables_prints_one_short_line(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=5, freq="D").strftime("%Y-%m-%d"),
                          **{f"v{i:04d}": range(5) for i in range(300)}})
    frame.to_csv(tmp_path / "wide.csv", index=False)
    done = cli("ingest", "wide.csv", "--store", "store", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("wide.csv: 1500 new rows of 300 variable(s) (v0000, v0001, v0002, v0003, v0004, "
                                   "v0005, v0006, v0007 and 292 more) into store")
