#!/usr/bin/env python3
"""Scheduling overhead with the default batch sizing, and the warning for tiny batches.

Overhead = wall time of the batches minus the sum of task compute times
divided by the workers, as a share of the wall time: what Dask, the
coordinator and the idle tail of the run cost. Target: under 5%.
"""

from __future__ import annotations

import statistics

from bench_parallel import standard_config
from common import arguments, build_store, group_sizes, info, local_client, report, scratch_directory, synthetic_frame

from recursive_training import ParallelTrainingCoordinator


def main() -> None:
    args = arguments(__doc__)
    work = scratch_directory(args.workdir, "bench-overhead-")
    store = work / "store"
    build_store(store, synthetic_frame(4 if args.tiny else 16, 1461))
    shares = []
    with local_client(standard_config(store, work, args.tiny)) as client:  # the batches' overhead, not start-up
        for run in range(1 if args.tiny else 3):
            config = standard_config(store, work / f"run{run}", args.tiny, batch_size_days=90.0)
            coordinator = ParallelTrainingCoordinator(config, client=client)
            summary = coordinator.start_training()
            wall = summary.timings["batches_seconds"]
            share = (wall - summary.compute_seconds / config.workers) / wall
            shares.append(share)
            info(f"run {run}: {summary.batches.total} batches of {group_sizes(coordinator.batches)} "
                 f"variables, wall {wall:.2f} s, compute {summary.compute_seconds:.2f} s on "
                 f"{config.workers} workers, overhead {100 * share:.1f}%")
    report("Dask overhead, default batch sizing", 100 * statistics.median(shares), 5.0,
           higher_is_better=False, unit="%")

    tiny = ParallelTrainingCoordinator(standard_config(store, work / "tiny", args.tiny, batch_size_days=1.0,
                                                       variables_per_batch=1))
    tiny.prepare_training_batches()
    info(f"batch size 1 day x 1 variable: {len(tiny.batches)} batches; warning: {tiny.warnings}")
    report("tiny batches are warned about", float(len(tiny.warnings)), 1.0, higher_is_better=True, unit="")


if __name__ == "__main__":
    main()
