"""Shared pieces of the benchmarks: synthetic stores, timing, and the report line.

Every benchmark compares two things measured side by side in one run, so the
ratio means something on a shared, noisy machine; absolute times are printed
for context only.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pandas as pd
from scipy.signal import lfilter

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/x.py` from a clone
    sys.path.insert(0, str(REPO))

from recursive_training.batching import TrainingBatch  # noqa: E402
from recursive_training.config import TrainingConfig  # noqa: E402
from recursive_training.data import RecursiveDataStore  # noqa: E402


def scratch_directory(workdir: Path | None, prefix: str) -> Path:
    """Where a bench builds its stores: ``workdir`` as given (the caller's to keep), else a temporary
    directory removed when the bench exits (a bench store can be gigabytes; left behind, they filled
    the disk)."""
    if workdir is not None:
        return workdir
    made = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    return made


@contextlib.contextmanager
def local_client(config: TrainingConfig) -> Iterator[Any]:
    """One local cluster, set up as a run sets up its own, for every run of a bench that times batches only:
    a cluster per run would cost seconds each and measure nothing the bench reports."""
    from recursive_training.cluster import connect, disconnect, main_script_hidden

    with main_script_hidden():
        connection = connect(config)
        try:
            yield connection.client
        finally:
            disconnect(connection.client, connection.cluster)


def arguments(description: str, extra: Callable[[argparse.ArgumentParser], object] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tiny", action="store_true", help="a seconds-long size, to check the script runs")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build stores (default: a temp dir)")
    if extra is not None:  # a bench's own options
        extra(parser)
    return parser.parse_args()


def synthetic_frame(n_variables: int, periods: int, freq: str = "D", start: str = "2016-01-01",
                    seed: int = 0) -> pd.DataFrame:
    """Wide frame of seasonal, autoregressive and random-walk series, reproducible by seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    columns: dict[str, np.ndarray] = {"timestamp": pd.date_range(start, periods=periods, freq=freq)}
    for i in range(n_variables):
        kind = i % 3
        noise = rng.normal(0, 1, periods)
        if kind == 0:
            values = 100 + 10 * np.sin(2 * np.pi * t / 7 + i) + 5 * np.sin(2 * np.pi * t / 365.25) + noise
        elif kind == 1:
            values = 50 + i + lfilter([1.0], [1.0, -0.6], noise)  # AR(1)
        else:
            values = 1000 + np.cumsum(noise * 5)
        columns[f"v{i:04d}"] = values
    return pd.DataFrame(columns)


def build_store(root: Path, frame: pd.DataFrame, variables_per_ingest: int = 50) -> RecursiveDataStore:
    store = RecursiveDataStore(root, create=True)
    names = [c for c in frame.columns if c != "timestamp"]
    for i in range(0, len(names), variables_per_ingest):
        store.ingest(frame[["timestamp", *names[i:i + variables_per_ingest]]])
    return RecursiveDataStore(root)


def median_seconds(action: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


First = TypeVar("First")
Second = TypeVar("Second")


def interleaved_pairs(pairs: int, first: Callable[[int], tuple[float, First]],
                      second: Callable[[int], tuple[float, Second]],
                      ) -> tuple[list[float], list[float], list[First], list[Second]]:
    """``first`` and ``second``, ``pairs`` times (each told the pair's number), so that drift on a shared
    machine hits both sides alike: each side's seconds and results, in order. Each returns (seconds, result).

    Every other pair runs ``second`` first, so that neither side always runs in the other's wake (in
    the page cache it left, or later in a drift of the machine's speed); the first pair keeps the given
    order, so one-time costs (first imports) still fall on ``first``.
    """
    first_times, second_times, first_results, second_results = [], [], [], []
    for pair in range(pairs):
        sides = [(first, first_times, first_results), (second, second_times, second_results)]
        for run, times, results in sides if pair % 2 == 0 else sides[::-1]:
            seconds, result = run(pair)
            times.append(seconds)
            results.append(result)
    return first_times, second_times, first_results, second_results


def pair_list(first: list[float], second: list[float]) -> str:
    """The pairs' seconds as "18.8/12.3 s, 18.4/10.8 s", for the line that reports their medians."""
    return ", ".join(f"{a:.1f}/{b:.1f} s" for a, b in zip(first, second))


def group_sizes(batches: list[TrainingBatch]) -> str:
    """The distinct variable counts of a plan's batches, largest first ("16/8/4"): tapered tails vary."""
    return "/".join(map(str, sorted({len(b.variables) for b in batches}, reverse=True)))


def report(name: str, measured: float, target: float, *, higher_is_better: bool, unit: str = "x",
           detail: str = "", upper: float | None = None) -> bool:
    """Print the one line per target that bench/run_all collects; ``upper`` makes the target a range."""
    passed = (measured >= target if higher_is_better else measured <= target) and (upper is None or measured <= upper)
    relation = "in" if upper is not None else ">=" if higher_is_better else "<="
    bound = f"{target:g}" if upper is None else f"[{target:g}, {upper:g}]"
    print(f"TARGET {name:<42} measured {measured:9.4g}{unit}  target {relation} {bound}{unit}  "
          f"{'PASS' if passed else 'FAIL'}  {detail}".rstrip(), flush=True)
    return passed


def info(text: str) -> None:
    print(f"INFO   {text}", flush=True)
