"""What users type: the README's Python example and the original tool's documented usage, run as scripts."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recursive_training import ParallelTrainingCoordinator
from recursive_training.data import RecursiveDataStore

from .conftest import PYTHON, REPO

pytestmark = pytest.mark.cluster

# The original tool's documented usage (docs of recursive_training/parallel_trainer.py), verbatim but for
# the data path; it has no `if __name__ == "__main__":` guard.
SEED_SNIPPET = '''
from datetime import datetime
from recursive_training.parallel_trainer import ParallelTrainingCoordinator, run_parallel_retrodiction_training

# Option 1: Using the coordinator directly
coordinator_config = {
    "data_store_config": {"base_path": "STORE"},
    "async_metrics_config": {"endpoint": "http://metrics-collector:9090"},
    # ... other configs
}
coordinator = ParallelTrainingCoordinator(
    config=coordinator_config,
    max_workers=4,
    dask_dashboard_port=8788
)

variables_to_train = ["var1", "var2"]
training_start_date = datetime(2022, 1, 1)
training_end_date = datetime(2022, 12, 31)

coordinator.prepare_training_batches(
    variables=variables_to_train,
    start_time=training_start_date,
    end_time=training_end_date,
    batch_size_days=30
)

def my_progress_callback(progress_data):
    print(f"Progress: {progress_data['completed_percentage']}")

coordinator.start_training(progress_callback=my_progress_callback)
results_summary = coordinator.get_results_summary()
coordinator.save_results_to_file("parallel_training_run_results.json")
print(results_summary)

# Option 2: Using the convenience function (shown in module's __main__)
# results = run_parallel_retrodiction_training(
#     variables=variables_to_train,
#     start_time=training_start_date,
#     end_time=training_end_date,
#     max_workers=2, # e.g., 2 workers
#     output_file="training_results_example.json"
# )
'''


def seed_store(root: Path) -> Path:
    rng = np.random.default_rng(3)
    days = pd.date_range("2020-06-01", "2023-03-01", freq="D")
    t = np.arange(len(days))
    frame = pd.DataFrame({"timestamp": days, "var1": 10 + np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.3, len(t)),
                          "var2": np.cumsum(rng.normal(size=len(t)))})
    RecursiveDataStore(root, create=True).ingest(frame)
    return root


def run_script(path: Path, cwd: Path, *, stdin: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [PYTHON, "-"] if stdin else [PYTHON, str(path)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          input=path.read_text() if stdin else None, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_the_readme_python_example_runs_as_a_script_without_a_main_guard(tmp_path):
    readme = (REPO / "README.md").read_text()
    example = re.search(r"### Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    assert "__main__" not in example
    (tmp_path / "example.py").write_text(example + '\nprint("trust", summary.variables["retail_sales"]["ar"].trust.mean)\n')
    RecursiveDataStore(tmp_path / "my-store", create=True).ingest(REPO / "data" / "sample.csv")
    for stdin in (False, True):
        done = run_script(tmp_path / "example.py", tmp_path, stdin=stdin)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr and "Nanny failed" not in done.stderr
        assert 0.5 < float(done.stdout.split("trust")[-1]) < 1.0
        if not stdin:  # the second run finds the first one's journal and must resume
            done_again = run_script(tmp_path / "example.py", tmp_path)
            assert done_again.returncode != 0 and "pass --resume" in done_again.stderr
            for run_dir in (tmp_path / "retrodiction-runs").glob("run-*"):
                (run_dir / "journal.jsonl").unlink()


def test_the_original_documented_usage_runs_verbatim(tmp_path):
    store = seed_store(tmp_path / "pulse_store")
    (tmp_path / "seed.py").write_text(SEED_SNIPPET.replace('"STORE"', repr(str(store))))
    done = run_script(tmp_path / "seed.py", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    progress = [float(line.split()[-1]) for line in done.stdout.splitlines() if line.startswith("Progress:")]
    assert progress[0] == 0.0 and progress[-1] == 100.0 and progress == sorted(progress)
    # 30-day windows on the grid from 1970 that meet 2022: 2021-12-29..2022-01-28 is window 633, and
    # 2022-12-30 lies in window 645 (2022-12-24..2023-01-23): 13 windows. A whole window of both variables
    # is 60 origins of the three default models (naive, seasonal naive, AR: 3 us each) and two AR fits on a
    # year (365 x 0.74 us each): about 1.1 ms of work, far too little to split (a tail piece keeps 12.5 ms)
    assert len(progress) == 1 + 13
    warnings = [line for line in done.stderr.splitlines() if "async_metrics_config" in line]
    assert warnings == ["warning: ignoring config section(s) async_metrics_config: this tool streams metrics to "
                        "OUTPUT_DIR/metrics.sqlite and keeps trust in OUTPUT_DIR/trust.sqlite"]
    assert done.stderr.count("\n") <= 2  # that line, and at most one about a busy dashboard port
    results = json.loads((tmp_path / "parallel_training_run_results.json").read_text())
    assert results["summary"]["batches"]["completed"] == 13
    assert set(results["summary"]["variables"]) == {"var1", "var2"}
    assert results["config"]["workers"] == 4 and results["config"]["dashboard_port"] == 8788


def test_the_convenience_function_finds_the_store_in_the_environment(tmp_path):
    store = seed_store(tmp_path / "store")
    script = tmp_path / "option2.py"
    script.write_text(
        "from datetime import datetime\n"
        "from recursive_training.parallel_trainer import run_parallel_retrodiction_training\n"
        "results = run_parallel_retrodiction_training(variables=['var1', 'var2'], start_time=datetime(2022, 3, 1),\n"
        "    end_time=datetime(2022, 6, 1), max_workers=2, output_file='training_results_example.json')\n"
        "print(results.batches)\n")
    done = run_script(script, tmp_path, env={"RECURSIVE_TRAINING_STORE": str(store)})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "training_results_example.json").read_text())
    assert results["summary"]["batches"]["failed"] == 0 and results["summary"]["store"] == str(store)
    missing = run_script(script, tmp_path, env={"RECURSIVE_TRAINING_STORE": ""})
    assert missing.returncode != 0 and "RECURSIVE_TRAINING_STORE" in missing.stderr


def test_prepare_training_batches_takes_the_original_arguments(tmp_path):
    store = seed_store(tmp_path / "store")
    coordinator = ParallelTrainingCoordinator({"data_store_config": {"base_path": str(store)}, "workers": 0,
                                               "output_dir": str(tmp_path / "runs")})
    from datetime import datetime

    batches = coordinator.prepare_training_batches(variables=["var1"], start_time=datetime(2022, 1, 1),
                                                   end_time=datetime(2022, 12, 31), batch_size_days=30,
                                                   overlap_days=45, batch_limit=3)
    assert len(batches) == 3 and [b.start_time for b in batches] == sorted(b.start_time for b in batches)
    assert batches[0].start_time == pd.Timestamp("2022-01-01")  # the first three in time order
    assert coordinator.config.retrodiction.lookback == "45D"  # 45 days of context before each window
    spans = [(b.start_time, b.end_time) for b in batches]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no origin scored twice
    calls = []
    summary = coordinator.start_training(calls.append)
    assert summary.batches.completed == 3
    assert set(calls[-1]) >= {"completed", "total", "failed", "completed_percentage", "batch_id",
                              "elapsed_seconds", "eta_seconds"}
    assert calls[0]["batch_id"] is None and calls[0]["eta_seconds"] is None
    assert calls[-1]["completed"] == calls[-1]["total"] == 3 and calls[-1]["eta_seconds"] == 0.0
    assert summary.variables["var1"]["naive"].scores.n_origins > 0
