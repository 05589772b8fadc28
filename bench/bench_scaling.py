#!/usr/bin/env python3
"""Scaling: doubling the variables, and separately the windows, at most doubles the time.

The standard workload on 2 workers, then with twice the variables, then with
twice the windows (a range twice as long), all on one local cluster (only
the batches are timed). Target: each ratio <= 2.1.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench_parallel import standard_config
from common import arguments, build_store, info, local_client, report, scratch_directory, synthetic_frame

from recursive_training import ParallelTrainingCoordinator


def batches_seconds(client: Any, store: Path, output: Path, tiny: bool, **extra) -> float:
    summary = ParallelTrainingCoordinator(standard_config(store, output, tiny, **extra), client=client).start_training()
    return summary.timings["batches_seconds"]


def main() -> None:
    args = arguments(__doc__)
    work = scratch_directory(args.workdir, "bench-scaling-")
    n = 4 if args.tiny else 16
    frame = synthetic_frame(2 * n, 1461)
    base_store, double_store = work / "base", work / "double"
    build_store(base_store, frame.iloc[:, : n + 1])
    build_store(double_store, frame)
    end = "2018-03-02" if args.tiny else "2019-01-01"
    longer_end = "2018-05-01" if args.tiny else "2020-01-01"
    repeats = 1 if args.tiny else 3
    runs = {"base": [], "variables": [], "windows": []}
    with local_client(standard_config(base_store, work, args.tiny)) as client:
        for r in range(repeats):  # interleaved, so drift on a shared machine hits all three alike
            runs["base"].append(batches_seconds(client, base_store, work / f"base{r}", args.tiny, end=end))
            runs["variables"].append(batches_seconds(client, double_store, work / f"vars{r}", args.tiny, end=end))
            runs["windows"].append(batches_seconds(client, base_store, work / f"win{r}", args.tiny, end=longer_end))
    median = {k: statistics.median(v) for k, v in runs.items()}
    info(f"{n} variables x 1 year: {median['base']:.1f} s; {2 * n} variables: {median['variables']:.1f} s; "
         f"2 years: {median['windows']:.1f} s (batches only, 2 workers)")
    report("time x2 variables", median["variables"] / median["base"], 2.1, higher_is_better=False)
    report("time x2 windows", median["windows"] / median["base"], 2.1, higher_is_better=False)


if __name__ == "__main__":
    main()
