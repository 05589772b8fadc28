#!/usr/bin/env python3
"""MLPs of a batch trained together against one at a time, and a 12-point MLP grid against one point:
the standard workload.

The standard workload: 16 daily variables over 4 years, monthly windows over
the last three (each window's MLP trained on the year before it), MLP with
150 epochs; every window's 16 variables in one batch. Timed: the whole run
in-process (workers 0, so both sides use the same single core), with
``train_together`` (the default) and without, in 3 interleaved pairs whose
medians are compared (this machine's speed drifts within minutes). The mathematics is the
same (float64 agrees to 1e-10), but in float32 training amplifies the other
order of sums, so the scores are compared as distributions: the mean MASE
over the variables must agree within 1%, and the per-variable spread is
printed.

Then a sweep of a 12-point MLP grid over the same workload, the learning
rate (0.003, 0.01) crossed with the epochs (25 to 150 in steps of 25),
in-process, against its one point ``mlp`` (150 epochs, rate 0.01): the run
trained together above, which has none of a sweep's bookkeeping, so the
comparison favours the point; and the grid again on 2 local workers (their start included;
the grid's forecasts must equal the in-process ones), in 3 interleaved pairs with the in-process sweep,
medians compared. Neither side pays a
process's one-time start-up: the in-process sweep runs where torch is
already imported (by the runs above), and the workers fork from a fork
server started before the timing (which imports torch once per process,
about 2 s of one core here; bench_end_to_end.py times that cold start). Grid points that
share a shape train together, and points that differ only in their epochs
share one training, so the grid trains two models per variable where the
point trains one; each of its 12 points is still forecast, scored and
counted on its own.

Targets: trained together at least 5x faster; the 12-point grid at most 4x
one point; the grid on 2 workers at least 1.8x faster than in-process.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import arguments, build_store, info, interleaved_pairs, pair_list, report, synthetic_frame  # noqa: E402
from recursive_training import ParallelTrainingCoordinator, TrainingConfig  # noqa: E402
from recursive_training.fork_server import start_fork_server  # noqa: E402
from recursive_training.search import GridFile, run_grid_search  # noqa: E402

GRID = {"mlp.learning_rate": [0.003, 0.01], "mlp.epochs": [25, 50, 75, 100, 125, 150]}
TINY_GRID = {"mlp.learning_rate": [0.003, 0.01], "mlp.epochs": [1, 3, 5]}  # its point: mlp(epochs=5)
PAIRS = 3  # interleaved pairs, the medians reported: one pair of the grid swung from 1.46x to 1.93x in a day


def workload(tiny: bool) -> dict:
    """The standard workload's run options, its models aside: the same for the runs and the sweeps."""
    return {"start": "2017-01-01", "end": "2017-03-01" if tiny else "2020-01-01", "window_period": "month",
            "horizon": 7, "lookback": 365, "variables_per_batch": 16, "report": False}


def timed_run(root: Path, store: Path, together: bool, tiny: bool, name: str) -> tuple[float, dict]:
    config = TrainingConfig.from_mapping({
        **workload(tiny), "store_path": store, "models": ["mlp(epochs=5)" if tiny else "mlp"], "workers": 0,
        "train_together": together, "output_dir": root / name})
    started = time.perf_counter()
    summary = ParallelTrainingCoordinator(config).start_training()
    return time.perf_counter() - started, summary.to_dict()["variables"]


def timed_sweep(root: Path, store: Path, grid: dict, workers: int, tiny: bool, name: str) -> tuple[float, dict]:
    """Seconds of a whole sweep (planning, the run, each experiment's results, the ranking), and the
    forecast scores by (variable, spec)."""
    base = {**workload(tiny), "models": ["mlp"], "dashboard_port": 0}
    started = time.perf_counter()
    summary = run_grid_search(GridFile(base=base, grids={"search": grid}), store, root / name, workers=workers)
    seconds = time.perf_counter() - started
    if summary["incomplete"]:
        raise SystemExit(f"sweep {name} did not finish: {summary['incomplete']}")
    return seconds, {(variable, entry["spec"]): entry["mase"] for variable, entries in summary["variables"].items()
                     for entry in entries}


def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    pairs = 1 if args.tiny else PAIRS
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        store = build_store(root / "store", synthetic_frame(16, 4 * 365, start="2016-01-01", seed=5)).root
        apart_times, together_times, aparts, togethers = interleaved_pairs(
            pairs, lambda pair: timed_run(root, store, False, args.tiny, f"apart-{pair}"),
            lambda pair: timed_run(root, store, True, args.tiny, f"together-{pair}"))
        apart, together = aparts[-1], togethers[-1]  # the same numbers in every pair
        apart_seconds, together_seconds = statistics.median(apart_times), statistics.median(together_times)
        differences, flipped, points = [], 0, 0
        pooled = {"apart": [], "together": []}
        for variable, by_spec in apart.items():
            for spec, outcome in by_spec.items():
                mine, theirs = together[variable][spec]["scores"], outcome["scores"]
                differences.append(abs(mine["mase"] - theirs["mase"]) / abs(theirs["mase"]))
                pooled["apart"].append(theirs["mase"])
                pooled["together"].append(mine["mase"])
                flipped += abs(mine["successes"] - theirs["successes"])
                points += theirs["n"]
        mean_apart, mean_together = (sum(v) / len(v) for v in (pooled["apart"], pooled["together"]))
        shift = abs(mean_together - mean_apart) / mean_apart
        if shift > 1e-2:
            raise SystemExit(f"trained together, the mean MASE moves by {shift:.2e} relative: not the same numbers")
        info(f"16 daily variables, {'2' if args.tiny else '36'} monthly windows, MLP: one at a time "
             f"{apart_seconds:.1f} s, together {together_seconds:.1f} s (median of {pairs} interleaved pairs: "
             f"{pair_list(apart_times, together_times)}); mean MASE {mean_apart:.4f} vs "
             f"{mean_together:.4f} ({shift:.1e} relative), per variable within {max(differences):.1e}; "
             f"{flipped} of {points} successes differ. The same mathematics (float64 agrees to 1e-10, "
             "tests/test_batched_torch.py); in float32, 150 epochs of Adam on noisy series amplify the "
             "different order of sums, as any change of operation order does")
        report("MLPs trained together vs one at a time", apart_seconds / together_seconds, 5.0,
               higher_is_better=True)
        grid = TINY_GRID if args.tiny else GRID
        point_seconds = together_seconds  # the grid's point mlp (150 epochs, rate 0.01) on the same workload
        start_fork_server(needs_torch=True)  # warm as this process is: see the docstring
        grid_times, parallel_times, grid_scores, parallel_scores = interleaved_pairs(
            pairs, lambda pair: timed_sweep(root, store, grid, 0, args.tiny, f"grid-{pair}"),
            lambda pair: timed_sweep(root, store, grid, 2, args.tiny, f"grid-2-workers-{pair}"))
        if any(theirs != mine for theirs, mine in zip(grid_scores, parallel_scores)):
            raise SystemExit("the grid's scores on 2 workers differ from those in-process")
        grid_seconds, parallel_seconds = statistics.median(grid_times), statistics.median(parallel_times)
        points = len(grid["mlp.learning_rate"]) * len(grid["mlp.epochs"])
        info(f"one point (the runs above) {point_seconds:.1f} s; sweeps of the {points}-point grid "
             f"{grid_seconds:.1f} s in-process and {parallel_seconds:.1f} s on 2 workers (their start included; "
             f"median of {pairs} interleaved pairs: {pair_list(grid_times, parallel_times)}); "
             f"{len(grid_scores[-1])} (variable, spec) scores, the same on both")
        report("12-point MLP grid vs one point", grid_seconds / point_seconds, 4.0, higher_is_better=False)
        report("12-point MLP grid, 2 workers", grid_seconds / parallel_seconds, 1.8, higher_is_better=True)
    return 0  # run_all reads PASS or FAIL from the TARGET lines


if __name__ == "__main__":
    sys.exit(main())
