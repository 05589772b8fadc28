#!/usr/bin/env python3
"""End to end: the real command, from process start to exit, on 2 local workers against --workers 0.

What a user waits for is not the batches alone but the whole command:
interpreter start and imports, planning, starting the cluster and warming
its workers, the batches, the wait for the last metrics, and closing. Two
jobs of quarterly series with an MLP in two-year windows: one of about 30 s
in-process and one of about 2 minutes (the issue asks for 3; a longer
job only brings the ratio nearer that of the batches alone, and bench/run_all
must stay within 20 minutes). Their sizes are measured on this
machine as the bench starts (a run of 80 variables in-process gives, from
its typical batch, the seconds a variable costs, and the fixed seconds of
a command, the first batch's torch import among them): a fixed
count of variables drifted from 30 s to 12 s as the models got faster and
the machine's load changed, and a short job makes fixed costs look
larger than they are. Each side is timed by the wall clock
around a `python run_training.py run` subprocess; the pairs are interleaved
(--workers 0 first in the first and third pair, --workers 2 first in the
second) and the median is reported. Where the fixed
time goes comes from each run's own timings in its results file, and so does
how much more the same batches cost on the workers than in-process (their
processing times summed, pair by pair). The runs
leave out the HTML report (--no-report): it is serial work after the last
batch, the same on both sides (`report` times it on its own).

Targets: >= 1.75x on the 30-second job, >= 1.9x on the long job; a fresh
2-worker cluster ready for torch in <= 1.5 s; closing in <= 0.5 s.
The long job runs one pair by default (--long-pairs), so that bench/run_all
stays under 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, build_store, info, interleaved_pairs, pair_list, report, scratch_directory, synthetic_frame

from recursive_training import RunResults, RunSummary, read_results

# the jobs' in-process wall time: the issue's 30 s, and its 3 minutes shortened to 2 so that run_all stays
# within 20 minutes (sized to 3 minutes, run_all took 1,227 s on a slow evening)
SHORT_SECONDS, LONG_SECONDS = 30.0, 120.0
CALIBRATION_VARIABLES = 80
PHASES = [("startup_seconds", "process start and imports"), ("planning_seconds", "planning"),
          ("cluster_start_seconds", "cluster start"), ("warm_up_seconds", "worker warm-up"),
          ("first_result_seconds", "first result"), ("metrics_wait_seconds", "metrics wait"),
          ("close_seconds", "close")]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a seconds-long size, to check the script runs")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build stores (default: a temp dir)")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved pairs of the 30-second job (default 3)")
    parser.add_argument("--long-pairs", type=int, default=1, help="pairs of the long job (default 1; 0 skips it)")
    return parser.parse_args()


def timed_run(store: Path, output: Path, workers: int, tiny: bool) -> tuple[float, RunResults]:
    """Wall seconds of the whole command, and the results it wrote."""
    command = [sys.executable, str(REPO / "run_training.py"), "run", "--store", str(store),
               "--start", "2006-01-01" if tiny else "1980-01-01", "--end", "2010-01-01",
               "--batch-size-days", "730", "--model", "mlp", "--epochs", "5" if tiny else "150",
               "--lookback", "20Y", "--workers", str(workers), "--dashboard-port", "0", "--no-progress",
               "--no-report", "--output-dir", str(output), "--output", str(output / "results.json")]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, read_results(output / "results.json")


def job_sizes(work: Path) -> tuple[int, int]:
    """Variables for a job of ``SHORT_SECONDS`` and one of ``LONG_SECONDS`` in-process on this machine now."""
    store = work / "calibration"
    build_store(store, synthetic_frame(CALIBRATION_VARIABLES, 200, freq="QS", start="1960-01-01", seed=2))
    wall, results = timed_run(store, work / "calibration-run", 0, tiny=False)
    # a variable's seconds from the typical batch, per variable and window: the first batch also imports torch,
    # which a longer job pays once too, so it counts as fixed (counted per variable, it made the jobs come out
    # at 25 s and 140 s)
    per_variable_window = statistics.median(b.result.processing_time / len(b.variables) for b in results.batches)
    per_variable = per_variable_window * len({b.start for b in results.batches})
    fixed = wall - per_variable * CALIBRATION_VARIABLES
    short, long = (max(CALIBRATION_VARIABLES, round((seconds - fixed) / per_variable))
                   for seconds in (SHORT_SECONDS, LONG_SECONDS))
    info(f"job sizes on this machine now: {per_variable:.3f} s a variable in-process and {fixed:.1f} s fixed "
         f"(a run of {CALIBRATION_VARIABLES}) -> {short} variables for about {SHORT_SECONDS:.0f} s, "
         f"{long} for about {LONG_SECONDS:.0f} s")
    return short, long


def measure(name: str, store: Path, work: Path, pairs: int, tiny: bool) -> tuple[float, list[RunSummary]]:
    """The median speedup of interleaved pairs, and the 2-worker runs' summaries."""
    serial, parallel, serial_results, results = interleaved_pairs(
        pairs, lambda pair: timed_run(store, work / f"{name}-serial{pair}", 0, tiny),
        lambda pair: timed_run(store, work / f"{name}-parallel{pair}", 2, tiny))
    serial_summaries, summaries = [r.summary for r in serial_results], [r.summary for r in results]
    # the batches' summed time on the workers against in-process: above 1, the same work cost more there (cores
    # slower when both are busy, the coordinator's share of them, more and smaller batches)
    busy = [p.compute_seconds / s.compute_seconds for s, p in zip(serial_summaries, summaries)]
    info(f"{name} job: --workers 0 {statistics.median(serial):.1f} s, --workers 2 "
         f"{statistics.median(parallel):.1f} s end to end (median of {pairs}: {pair_list(serial, parallel)}); "
         f"batches alone {statistics.median(s.timings['batches_seconds'] for s in summaries):.1f} s on 2 workers, "
         f"their time summed over both workers {statistics.median(busy):.2f}x that in-process "
         f"({', '.join(f'{b:.2f}' for b in busy)})")
    return statistics.median(serial) / statistics.median(parallel), summaries


def median_timing(summaries: list[RunSummary], key: str) -> float:
    return statistics.median(s.timings.get(key, 0.0) for s in summaries)


def main() -> None:
    args = arguments()
    work = scratch_directory(args.workdir, "bench-end-to-end-")
    short_variables, long_variables = (3, 18) if args.tiny else job_sizes(work)
    short_store, long_store = work / "short", work / "long"
    build_store(short_store, synthetic_frame(short_variables, 200, freq="QS", start="1960-01-01"))
    build_store(long_store, synthetic_frame(long_variables, 200, freq="QS", start="1960-01-01", seed=1))
    short, summaries = measure("30-second", short_store, work, 1 if args.tiny else args.pairs, args.tiny)
    long_pairs = 1 if args.tiny else args.long_pairs
    long = measure("long", long_store, work, long_pairs, args.tiny)[0] if long_pairs else None
    fixed = ", ".join(f"{label} {median_timing(summaries, key):.2f} s" for key, label in PHASES)
    info(f"fixed time on 2 workers (30-second job, median): {fixed}")
    report("end to end, 30-second job, 2 workers", short, 1.75, higher_is_better=True)
    if long is not None:
        report("end to end, long job, 2 workers", long, 1.9, higher_is_better=True)
    ready = median_timing(summaries, "cluster_start_seconds") + median_timing(summaries, "warm_up_seconds")
    report("fresh 2-worker cluster ready for torch", ready, 1.5, higher_is_better=False, unit="s")
    report("closing a 2-worker run", median_timing(summaries, "close_seconds"), 0.5, higher_is_better=False,
           unit="s")


if __name__ == "__main__":
    main()
