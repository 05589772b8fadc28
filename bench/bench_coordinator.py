#!/usr/bin/env python3
"""The coordinator at a thousand workers, without a thousand workers; and planning at 10,000 variables.

The outcomes of 100,000 batches (``--outcomes N`` for another count) are fed to the coordinator's real recording
path (journal with its fsync, trust buffer and tracker, metrics store,
progress, alerts) as a 1,000-worker cluster would deliver them: 1,000
outcomes a second arrive, and what arrived while the coordinator was busy
or idle, and within the executor's group window after that, is handed
over as one group, as the Dask executor does (on a simulated
clock, so the bench does not sleep through the 100 s of arrivals). Each
result comes encoded for the journal, as its worker encodes it. Each outcome is a
real batch result (one variable, naive and AR, a 30-day window, horizon 7,
with its metrics chunk) made once by ``process_batch`` and moved per batch
to one of 1,000 variables and a later window, so every outcome is new
evidence for the tracker, as in a run of 1,000 variables over 100
windows. Measured: outcomes
per second sustained (until everything is written, closing included), and the coordinator's memory after 20% and after all
of the outcomes. Planning 10,000 daily variables over 10 years is timed
through the coordinator's own planning (catalog read included).

Targets: at least 5,000 outcomes per second with every outcome journalled
(fsynced) before it is applied; memory flat (under 1 MiB per 10,000
outcomes); planning under 5 s.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from common import arguments, build_store, info, report, synthetic_frame

from analytics import TrustKey
from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.batching import TrainingBatch
from recursive_training.execution import GROUP_LIMIT, GROUP_WINDOW_SECONDS
from recursive_training.outcomes import BatchResult
from recursive_training.records import RunHeader
from recursive_training.worker_task import process_batch

ARRIVALS_PER_SECOND = 1000  # 1,000 workers finishing a batch every second each
VARIABLES = 1000  # the outcomes cover 1,000 variables over as many 30-day windows as it takes
WINDOW_NS = 30 * 86_400 * 10**9
ROUND = 2000  # outcomes made at a time, while the coordinator is idle


def template(root: Path) -> tuple[TrainingConfig, TrainingBatch, BatchResult, list[dict]]:
    """One real batch's result and metrics chunks, to be renamed per simulated batch."""
    build_store(root / "store", synthetic_frame(1, 800))
    config = TrainingConfig.from_mapping({
        "store_path": root / "store", "start": "2017-06-01", "end": "2017-07-01", "batch_size_days": 30,
        "models": ("naive", "ar"), "horizon": 7, "lookback": 365, "output_dir": root / "runs", "workers": 0,
        "report": False, "run_id": "coordinator-bench"})
    coordinator = ParallelTrainingCoordinator(config)
    batch = coordinator.prepare_training_batches()[0]
    chunks: list[dict] = []
    result = process_batch(batch, config, chunks.append, worker="tcp://10.0.0.1:40000")
    return config, batch, result, chunks


def renamed(batch: TrainingBatch, result: BatchResult, chunks: list[dict], index: int
            ) -> tuple[TrainingBatch, BatchResult, list[dict]]:
    """The template as batch ``index``: variable ``index % VARIABLES`` in window ``index // VARIABLES`` (its
    origins and targets moved that many windows on), so every outcome is new evidence for a key that recurs,
    as in a real run."""
    name, window = f"v{index % VARIABLES:04d}", index // VARIABLES
    batch_id = f"{batch.batch_id}-{index}"
    shift = np.int64(window * WINDOW_NS)
    evidence = tuple(dataclasses.replace(
        block, key=TrustKey(name, block.key.spec, block.key.schedule, block.key.context),
        window=block.window + window, origins=block.origins + shift, targets=block.targets + shift)
        for block in result.evidence)
    outcomes = tuple(dataclasses.replace(outcome, variable=name) for outcome in result.outcomes)
    new_result = dataclasses.replace(result, batch_id=batch_id, variables=(name,), outcomes=outcomes,
                                     evidence=evidence, window_index=result.window_index + window
                                     ).encoded()  # as its worker encodes it
    new_batch = dataclasses.replace(batch, batch_id=batch_id, variables=(name,), result=None,
                                    window_index=batch.window_index + window)
    new_chunks = [{**chunk, "batch_id": batch_id, "series": [[name, *row[1:]] for row in chunk["series"]]}
                  for chunk in chunks]
    return new_batch, new_result, new_chunks


def feed(root: Path, total: int) -> tuple[float, list[float], int]:
    """Outcomes per second, the coordinator's RSS (MiB) after 20% and after all, and the largest group.

    The trust buffer and the metrics store write in threads of their own. So
    that none of their work hides in the time this bench spends making
    outcomes, the outcomes are made in rounds while the coordinator is idle,
    and each round's clock runs until both have written everything.
    """
    config, batch, result, chunks = template(root)
    coordinator = ParallelTrainingCoordinator(dataclasses.replace(config, run_id="fed", output_dir=root / "fed"))
    recorder = coordinator._recorder
    recorder.open()
    recorder.begin(RunHeader(coordinator.run_id, coordinator.config.procedure(), coordinator._spec_ids()))
    process = psutil.Process()
    memory: list[float] = []
    fed, largest, busy, clock = 0, 0, 0.0, 0.0
    while fed < total:
        made = [renamed(batch, result, chunks, at) for at in range(fed, min(total, fed + ROUND))]
        began = time.perf_counter()
        while made:
            # on a simulated clock (no sleeping), as the Dask executor groups them: the next outcome (waited
            # for when the coordinator is idle), what arrived before it, and what arrives within the group window
            clock = max(clock, (fed + 1) / ARRIVALS_PER_SECOND) + GROUP_WINDOW_SECONDS
            arrived = min(len(made), GROUP_LIMIT, int(clock * ARRIVALS_PER_SECOND) - fed)
            group, made = made[:arrived], made[arrived:]
            started = time.perf_counter()
            coordinator.batches_done([(b, r) for b, r, _ in group])
            for _, _, batch_chunks in group:
                for chunk in batch_chunks:
                    recorder.receive_metrics(chunk)
            clock += time.perf_counter() - started
            fed += arrived
            largest = max(largest, arrived)
        recorder._buffer.flush()  # the round ends when its trust and metrics are written
        recorder._metrics.drain()
        busy += time.perf_counter() - began
        if not memory and fed >= total // 5:
            gc.collect()
            memory.append(process.memory_info().rss / 2**20)
    began = time.perf_counter()
    coordinator._close_run(failing=False)
    busy += time.perf_counter() - began
    gc.collect()
    memory.append(process.memory_info().rss / 2**20)
    return total / busy, memory, largest


def plan(root: Path, variables: int, years: int) -> float:
    """Seconds to plan ``variables`` daily variables over ``years`` years (catalog read included)."""
    store = root / "wide-store"
    frame = synthetic_frame(1, 365 * years + 3)
    build_store(store, frame)
    # the same series under many names: the catalog is what planning reads, so copy its one entry
    catalog = json.loads((store / "catalog.json").read_text())
    entry = catalog["variables"]["v0000"]
    catalog["variables"] = {f"v{i:05d}": {**entry, "name": f"v{i:05d}"} for i in range(variables)}
    (store / "catalog.json").write_text(json.dumps(catalog))
    config = TrainingConfig.from_mapping({"store_path": store, "batch_size_days": 90, "workers": 2,
                                          "output_dir": root / "plan-runs", "models": ("naive", "ar")})
    started = time.perf_counter()
    batches = ParallelTrainingCoordinator(config).prepare_training_batches()
    seconds = time.perf_counter() - started
    info(f"planning: {variables:,} variables x {years} years -> {len(batches):,} batches in {seconds:.2f} s")
    return seconds


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], extra=lambda parser: parser.add_argument(
        "--outcomes", type=int, default=100_000,
        help="outcomes to feed (default 100,000, the size issue 11 names; about 35 s)"))
    total = 2_000 if args.tiny else args.outcomes
    variables = 500 if args.tiny else 10_000
    with tempfile.TemporaryDirectory(dir=args.workdir) as directory:
        root = Path(directory)
        rate, memory, largest = feed(root, total)
        growth = (memory[1] - memory[0]) / (0.8 * total / 10_000)
        info(f"recording path: {total:,} outcomes at {rate:,.0f} per second of coordinator time "
             f"(groups of up to {largest}); RSS {memory[0]:.0f} MiB after 20%, {memory[1]:.0f} MiB after all")
        report("coordinator outcomes per second", rate, 5000, higher_is_better=True, unit="/s",
               detail=f"{total:,} outcomes, each fsynced before it is applied")
        report("coordinator memory growth per 10k outcomes", growth, 1.0, higher_is_better=False, unit="MiB")
        report("planning 10,000 variables x 10 years", plan(root, variables, 10), 5.0, higher_is_better=False,
               unit="s")


if __name__ == "__main__":
    main()
