"""Every benchmark script still runs, at a tiny size, and reports its targets."""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import PYTHON, REPO

pytestmark = pytest.mark.cluster

SCRIPTS = {
    "bench_parallel.py": ["parallel speedup, 2 workers"],
    "bench_baselines.py": ["baselines equal statsforecast (max |diff|)", "baselines faster than statsforecast"],
    "bench_overhead.py": ["Dask overhead, default batch sizing", "tiny batches are warned about"],
    "bench_store.py": ["targeted load vs whole data set", "second load hits the cache", "streaming peak / chunk size",
                       "a batch's variables, one window, buckets", "one variable from a bucket vs its own file"],
    "bench_scaling.py": ["time x2 variables", "time x2 windows"],
    "bench_end_to_end.py": ["end to end, 30-second job, 2 workers", "end to end, long job, 2 workers",
                            "fresh 2-worker cluster ready for torch", "closing a 2-worker run"],
    "bench_memory.py": ["worker memory growth, batch 10 -> 100"],
    "bench_registry.py": ["registry listing, slowest filtered query"],
    "bench_intervals.py": ["simulated 80% interval coverage", "simulated 95% interval coverage"],
    "bench_forecast.py": ["forecast 1,000 variables, 2 workers", "report of a 200-variable run"],
    "bench_coordinator.py": ["coordinator outcomes per second", "coordinator memory growth per 10k outcomes",
                             "planning 10,000 variables x 10 years"],
    "bench_ingest.py": ["ingest peak memory, long CSV", "ingest peak memory growth, twice the rows",
                        "ingest peak memory, wide CSV"],
    "bench_calibration.py": [f"95% coverage {m} h={h}{kind}" for m in ("naive", "seasonal_naive", "ar")
                             for h in (1, 7, 13)
                             for kind in ([" (h <= m)" if h <= 12 else " (h > m)"] if m == "seasonal_naive" else [""])],
}
LINE = re.compile(r"^TARGET (?P<name>.+?)\s+measured\s+(?P<value>[-+0-9.e]+)\S*\s+target (<=|>=|in) (\S+|\[\S+ \S+\])\s+(PASS|FAIL)")


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_bench_script_runs_tiny(script, tmp_path):
    done = subprocess.run([PYTHON, str(REPO / "bench" / script), "--tiny", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    targets = [LINE.match(line) for line in done.stdout.splitlines() if line.startswith("TARGET")]
    assert all(targets), done.stdout
    assert [m["name"] for m in targets] == SCRIPTS[script]
    assert all(float(m["value"]) == float(m["value"]) for m in targets)  # a number, not NaN


def test_run_all_lists_every_script():
    text = (REPO / "bench" / "run_all").read_text()
    assert all(script in text for script in SCRIPTS)
