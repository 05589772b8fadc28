#!/usr/bin/env python3
"""Worker memory: no growth across batches.

One worker runs 110 batches of the standard model in a row; each batch's
result holds the worker's peak resident memory while it ran (the kernel's
peak, recursive_training/memory.py). The peak after 100 batches must
be within 10% of the peak after 10.
"""

from __future__ import annotations

from bench_parallel import standard_config
from common import arguments, build_store, info, local_client, report, scratch_directory, synthetic_frame

from recursive_training import ParallelTrainingCoordinator


def main() -> None:
    args = arguments(__doc__)
    work = scratch_directory(args.workdir, "bench-memory-")
    store = work / "store"
    n_batches = 12 if args.tiny else 110
    build_store(store, synthetic_frame(2, 1461))
    config = standard_config(store, work / "run", args.tiny, workers=1, batch_size_days=365 * 3 / n_batches,
                             variables_per_batch=2, start="2017-01-01", end="2020-01-01",
                             epochs=5 if args.tiny else 100)
    peaks = []  # in the order the batches finished
    with local_client(config) as client:  # every batch on the worker, none in this process during start-up
        coordinator = ParallelTrainingCoordinator(config, client=client)
        coordinator.start_training(lambda done, total, batch: batch is not None
                                   and peaks.append(batch.result.peak_memory_mib))
    late = min(100, len(peaks)) - 1
    info(f"one worker, {len(peaks)} batches: peak {peaks[9]:.1f} MiB after batch 10, "
         f"{peaks[late]:.1f} MiB after batch {late + 1}, highest {max(peaks):.1f} MiB")
    report("worker memory growth, batch 10 -> 100", 100 * (peaks[late] / peaks[9] - 1), 10.0,
           higher_is_better=False, unit="%")


if __name__ == "__main__":
    main()
