#!/usr/bin/env python3
"""Ingest's peak memory: a 4-million-row long CSV and a 3,000-variable wide CSV, through the real command.

Each `python run_training.py ingest` runs in a fresh process whose peak
resident memory (ru_maxrss) is compared with that of the same interpreter
running `catalog` on a one-variable store, which imports the same modules:
the difference is what reading, validating and writing the file cost. Before
ingest read in blocks, the issue measured 1.24 GB for a 4-million-row long
file (about 290 bytes a row: the whole file held as text) and 1.49 GB for a
51 MB wide one.

Targets: under 300 MB over the interpreter for each file, and no more for
twice the rows (the long file at half its rows is ingested too; memory
must not grow with the file).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import REPO, arguments, info, report

PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_mib(*command: str) -> float:
    """Peak resident memory of ``command`` in a process of its own, in MiB (ru_maxrss is in KiB)."""
    done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, str(REPO / "run_training.py"), *command],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) / 1024


def long_csv(path: Path, rows: int, variables: int) -> None:
    """``rows`` rows of (timestamp, variable, value): each variable a daily series, variables one after another."""
    per_variable = rows // variables
    days = pd.date_range("2000-01-01", periods=per_variable, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(0)
    with open(path, "w") as handle:
        handle.write("timestamp,variable,value\n")
        for i in range(variables):
            values = np.round(np.cumsum(rng.normal(0, 1, per_variable)), 4)
            pd.DataFrame({"timestamp": days, "variable": f"v{i:05d}", "value": values}).to_csv(
                handle, header=False, index=False)


def wide_csv(path: Path, days: int, variables: int) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(np.round(rng.normal(100, 10, (days, variables)), 2),
                         columns=[f"w{i:04d}" for i in range(variables)])
    frame.insert(0, "timestamp", pd.date_range("2010-01-01", periods=days, freq="D").strftime("%Y-%m-%d"))
    frame.to_csv(path, index=False)


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    rows, variables, wide_days, wide_variables = ((40_000, 20, 100, 300) if args.tiny else
                                                 (4_000_000, 2_000, 1_700, 3_000))
    with tempfile.TemporaryDirectory(dir=args.workdir) as directory:
        work = Path(directory)
        long_csv(work / "long.csv", rows, variables)
        long_csv(work / "half.csv", rows // 2, variables)
        wide_csv(work / "wide.csv", wide_days, wide_variables)
        wide_csv(work / "one.csv", 10, 1)
        subprocess.run([sys.executable, str(REPO / "run_training.py"), "ingest", str(work / "one.csv"), "--store",
                        str(work / "one-store")], check=True, capture_output=True)
        baseline = peak_mib("catalog", "--store", str(work / "one-store"))
        half = peak_mib("ingest", str(work / "half.csv"), "--store", str(work / "half-store")) - baseline
        for name in ("long", "wide"):
            size = (work / f"{name}.csv").stat().st_size / 2**20
            started = time.perf_counter()
            peak = peak_mib("ingest", str(work / f"{name}.csv"), "--store", str(work / f"{name}-store"))
            info(f"{name} CSV, {size:.0f} MiB: ingested in {time.perf_counter() - started:.1f} s, peak {peak:.0f} MiB "
                 f"(interpreter with the same imports: {baseline:.0f} MiB)")
            what = f"{rows:,} rows" if name == "long" else f"{wide_variables:,} variables"
            report(f"ingest peak memory, {name} CSV", peak - baseline, 300, higher_is_better=False, unit="MiB",
                   detail=f"{what}, {size:.0f} MiB file")
            if name == "long":
                report("ingest peak memory growth, twice the rows", peak - baseline - half, 30, higher_is_better=False,
                       unit="MiB", detail=f"{rows // 2:,} rows: {half:.0f} MiB over the interpreter")


if __name__ == "__main__":
    main()
