#!/usr/bin/env python3
"""Parallel efficiency: 2 LocalCluster workers against the same code run serially in-process.

Standard workload: 16 daily variables over four years, monthly windows over
the last two, an MLP (plus naive) per variable and window. The speedup is
serial time over the time the cluster spends on the batches; starting the
cluster is a one-time cost, printed separately. Target: >= 1.8x on 2 cores.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import arguments, build_store, info, median_seconds, report, synthetic_frame

from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.worker_task import process_batch


def standard_config(store: Path, output: Path, tiny: bool, **extra) -> TrainingConfig:
    return TrainingConfig.from_mapping({
        "store_path": store, "start": "2018-01-01", "end": "2018-03-02" if tiny else "2020-01-01",
        "batch_size_days": 30, "models": ("naive", "mlp"), "epochs": 5 if tiny else 150, "lags": 14,
        "hidden_size": 32, "lookback": 365, "horizon": 7, "workers": 2, "dashboard_port": 0,
        "output_dir": output, **extra,
    })


def main() -> None:
    args = arguments(__doc__)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    store = work / "store"
    build_store(store, synthetic_frame(4 if args.tiny else 16, 1461))
    repeats = 1 if args.tiny else 3

    config = standard_config(store, work / "serial", args.tiny)
    batches = ParallelTrainingCoordinator(config).prepare_training_batches()
    serial, serial_times = median_seconds(lambda: [process_batch(b, config, lambda chunk: None) for b in batches],
                                          repeats)

    runs = []

    def parallel_run() -> None:
        coordinator = ParallelTrainingCoordinator(standard_config(store, work / f"parallel{len(runs)}", args.tiny))
        runs.append(coordinator.start_training())

    median_seconds(parallel_run, repeats)
    batch_times = sorted(r["timings"]["batches_seconds"] for r in runs)
    parallel = batch_times[len(batch_times) // 2]
    connect = sorted(r["timings"]["connect_seconds"] for r in runs)[len(runs) // 2]
    info(f"standard workload: {len(batches)} batches of {len(batches[0].variables)} variables; "
         f"serial {serial:.1f} s, 2 workers {parallel:.1f} s (+{connect:.1f} s cluster start), "
         f"median of {repeats}")
    peaks = [r["peak_memory_mib"] for r in runs]
    info(f"peak memory per worker (memory-profiler, standard workload): {max(peaks):.0f} MiB")
    report("parallel speedup, 2 workers", serial / parallel, 1.8, higher_is_better=True,
           detail=f"serial {serial:.1f}s / parallel {parallel:.1f}s")


if __name__ == "__main__":
    main()
