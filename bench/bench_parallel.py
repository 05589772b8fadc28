#!/usr/bin/env python3
"""Parallel efficiency: 2 LocalCluster workers against the same code run serially in-process.

Standard workload: 16 daily variables over four years, monthly windows over
the last two, an MLP (plus naive) per variable and window. Both sides are a
full coordinator run (journal, trust, metrics): ``workers=2`` on a
LocalCluster against ``workers=0``, which runs the same batches one by one in
this process, in interleaved pairs that take turns at running first. The
speedup compares the time spent on the batches, on one
cluster started beforehand for every parallel run (a run's own cluster would
start in the background while the first batches run in-process, blurring
the comparison; bench_end_to_end.py times that). Target: >= 1.8x on 2 cores.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from common import (
    arguments,
    build_store,
    group_sizes,
    info,
    interleaved_pairs,
    local_client,
    pair_list,
    report,
    scratch_directory,
    synthetic_frame,
)

from recursive_training import ParallelTrainingCoordinator, RunSummary, TrainingConfig


def standard_config(store: Path, output: Path, tiny: bool, **extra) -> TrainingConfig:
    return TrainingConfig.from_mapping({
        "store_path": store, "start": "2018-01-01", "end": "2018-03-02" if tiny else "2020-01-01",
        "batch_size_days": 30, "models": ("naive", "mlp"), "epochs": 5 if tiny else 150, "lags": 14,
        "hidden_size": 32, "lookback": 365, "horizon": 7, "workers": 2, "dashboard_port": 0,
        "output_dir": output, **extra,
    })


def main() -> None:
    args = arguments(__doc__)
    work = scratch_directory(args.workdir, "bench-parallel-")
    store = work / "store"
    build_store(store, synthetic_frame(4 if args.tiny else 16, 1461))
    repeats = 1 if args.tiny else 3

    batches = ParallelTrainingCoordinator(standard_config(store, work / "plan", args.tiny)).prepare_training_batches()
    ParallelTrainingCoordinator(standard_config(store, work / "warm", args.tiny, workers=0, end="2018-01-15")
                                ).start_training()  # imports and torch start-up, as workers do at connect

    def batches_of(run: RunSummary) -> tuple[float, RunSummary]:
        return run.timings["batches_seconds"], run

    with local_client(standard_config(store, work, args.tiny)) as client:  # batches only: no start-up handover
        serial_times, parallel_times, serial_runs, parallel_runs = interleaved_pairs(
            repeats, lambda r: batches_of(ParallelTrainingCoordinator(
                standard_config(store, work / f"serial{r}", args.tiny, workers=0)).start_training()),
            lambda r: batches_of(ParallelTrainingCoordinator(
                standard_config(store, work / f"parallel{r}", args.tiny), client=client).start_training()))

    serial, parallel = statistics.median(serial_times), statistics.median(parallel_times)
    assert serial_runs[0].to_dict()["variables"] == parallel_runs[0].to_dict()["variables"]  # same work, same numbers
    info(f"standard workload: {len(batches)} batches of {group_sizes(batches)} variables; "
         f"serial {serial:.1f} s, 2 workers {parallel:.1f} s, median of {repeats} interleaved pairs "
         f"({pair_list(serial_times, parallel_times)}; start-up and the whole command: bench_end_to_end.py)")
    peaks = [r.peak_memory_mib for r in parallel_runs]
    info(f"peak memory per worker (standard workload): {max(peaks):.0f} MiB")
    report("parallel speedup, 2 workers", serial / parallel, 1.8, higher_is_better=True,
           detail=f"serial {serial:.1f}s / parallel {parallel:.1f}s")


if __name__ == "__main__":
    main()
