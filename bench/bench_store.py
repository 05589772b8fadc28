#!/usr/bin/env python3
"""Data store: targeted reads against reading everything, the cache, and streaming memory.

A store of 1,000 hourly variables over 10 years. Loading one variable for one
year through OptimizedDataStore must be at least 10x faster than reading the
whole Parquet data set with pandas and filtering it, and a second load must
hit the per-process cache. Streaming 10 years of one variable must keep peak
memory (the kernel's peak resident size, PeakMemoryMonitor) under 2x the
chunk size above the baseline; it is measured on a minute-resolution variable
(5.3 million rows), because 10 years of hourly data (1.4 MB) is below what
the resident set can resolve among the interpreter's own allocations.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from common import arguments, build_store, info, median_seconds, report, scratch_directory, synthetic_frame

from recursive_training.data import OptimizedDataStore, RecursiveDataStore, SegmentCache
from recursive_training.data.data_store import ROW_GROUP_ROWS

CHUNK_ROWS = 262_144
STREAM_PROBE = """
import sys
from recursive_training.data import StreamingDataStore
from recursive_training.memory import PeakMemoryMonitor
store = StreamingDataStore(sys.argv[1])
for _ in store.stream(sys.argv[3], chunk_rows=int(sys.argv[4])):  # warm up arrow's pools and threads
    pass
total = 0.0
with PeakMemoryMonitor() as memory:
    for chunk in store.stream(sys.argv[2], chunk_rows=int(sys.argv[4])):
        total += float(chunk.sum())
print(memory.increase_mib, total)
"""


def build(root: Path, n_variables: int, years: int) -> tuple[RecursiveDataStore, str]:
    store = RecursiveDataStore(root, create=True)
    periods = 24 * 365 * years
    for first in range(0, n_variables, 50):
        frame = synthetic_frame(min(50, n_variables - first), periods, freq="h", start="2014-01-01", seed=first)
        frame.columns = ["timestamp", *(f"h{first + i:04d}" for i in range(frame.shape[1] - 1))]
        store.ingest(frame)
    dense = synthetic_frame(1, 60 * periods // (1 if years >= 10 else 4), freq="min", start="2014-01-01", seed=9)
    store.ingest(dense.rename(columns={"v0000": "minutely"}))
    return store, "minutely"


def one_file_per_variable(bucketed: Path, root: Path) -> Path:
    """The store at ``bucketed`` in the layout stores had before bucket files: a file per variable."""
    store = RecursiveDataStore(bucketed)
    catalog = json.loads((bucketed / "catalog.json").read_text())
    for name, entry in catalog["variables"].items():
        directory = root / "data" / f"variable={name}"
        directory.mkdir(parents=True)
        series = store.load(name)
        pq.write_table(pa.table({"timestamp": series.index.to_numpy(), "value": series.to_numpy()}),
                       directory / "part-0.parquet", row_group_size=ROW_GROUP_ROWS)
        entry.update(path=f"data/variable={name}/part-0.parquet", row_groups=None)
    (root / "catalog.json").write_text(json.dumps({"format_version": 1, "variables": catalog["variables"]}))
    return root


def bucket_reads(work: Path, tiny: bool) -> None:
    """A batch of 750 daily variables (10 years each), one year's window with a year of history, as a worker
    loads it (OptimizedDataStore, a cold cache), from bucket files and from a file per variable; and one
    variable alone from each."""
    n_variables = 40 if tiny else 750
    bucketed = work / "wide-store"
    build_store(bucketed, synthetic_frame(n_variables, 3653), variables_per_ingest=n_variables)
    single = one_file_per_variable(bucketed, work / "single-store")
    names = RecursiveDataStore(bucketed).variables

    def batch(root: Path) -> float:
        store = OptimizedDataStore(root, cache=SegmentCache())  # opened once, as a worker keeps it
        started = time.perf_counter()
        store.load_windows(names, "2022-01-01", "2023-01-01", before=365, after=7)
        return time.perf_counter() - started

    def alone(root: Path) -> float:
        store = OptimizedDataStore(root, cache=SegmentCache())
        started = time.perf_counter()
        for name in names[:: max(1, len(names) // 50)]:  # 50 variables, each read cold
            store.cache.clear()
            store.load_window(name, "2022-01-01", "2023-01-01", before=365, after=7)
        return (time.perf_counter() - started) / len(names[:: max(1, len(names) // 50)])

    repeats = 1 if tiny else 5
    many = {root: statistics.median(batch(root) for _ in range(repeats)) for root in (single, bucketed)}
    one = {root: statistics.median(alone(root) for _ in range(repeats)) for root in (single, bucketed)}
    info(f"{n_variables} daily variables, one window: bucket files {many[bucketed]:.3f} s, a file per variable "
         f"{many[single]:.3f} s; one variable alone {one[bucketed] * 1e3:.2f} ms vs {one[single] * 1e3:.2f} ms")
    report("a batch's variables, one window, buckets", many[bucketed], 0.5, higher_is_better=False,
           unit="s", detail=f"{n_variables} variables; a file per variable: {many[single]:.2f} s")
    report("one variable from a bucket vs its own file", one[bucketed] / one[single], 1.25, higher_is_better=False,
           detail="time ratio; the cache of loaded ranges cold, parsed footers kept per process")


def streaming_increase(root: Path, variable: str, warmup: str) -> float:
    done = subprocess.run([sys.executable, "-c", STREAM_PROBE, str(root), variable, warmup, str(CHUNK_ROWS)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.split()[0])


def main() -> None:
    args = arguments(__doc__)
    work = scratch_directory(args.workdir, "bench-store-")
    root = work / "store"
    n_variables, years = (20, 2) if args.tiny else (1000, 10)
    started = time.perf_counter()
    store, dense = build(root, n_variables, years)
    info(f"store of {len(store.variables) - 1} hourly variables x {years} years built in "
         f"{time.perf_counter() - started:.0f} s")
    target, year = "h0007", ("2015-01-01", "2016-01-01")

    def whole_dataset() -> pd.Series:
        frame = pd.read_parquet(root / "data", columns=["timestamp", "value", "variable"])
        hit = (frame["variable"] == target) & (frame["timestamp"] >= year[0]) & (frame["timestamp"] < year[1])
        return frame.loc[hit, "value"]

    def targeted() -> pd.Series:
        return OptimizedDataStore(root, cache=SegmentCache()).load(target, *year)  # cold cache every time

    repeats = 1 if args.tiny else 3
    everything, _ = median_seconds(whole_dataset, repeats)
    optimized, _ = median_seconds(targeted, max(repeats, 5))
    assert np.array_equal(whole_dataset().to_numpy(), targeted().to_numpy())
    info(f"one variable, one year: whole data set with pandas {everything:.2f} s, "
         f"OptimizedDataStore {optimized * 1e3:.1f} ms")
    report("targeted load vs whole data set", everything / optimized, 10.0, higher_is_better=True)

    cache = SegmentCache()
    warm_store = OptimizedDataStore(root, cache=cache)
    first, _ = median_seconds(lambda: warm_store.load(target, *year), 1)
    second, _ = median_seconds(lambda: warm_store.load(target, *year), 1)
    info(f"cache: first load {first * 1e3:.2f} ms, second {second * 1e3:.2f} ms, hits {cache.hits}, "
         f"misses {cache.misses}")
    report("second load hits the cache", float(cache.hits), 1.0, higher_is_better=True, unit="")

    chunk_mib = CHUNK_ROWS * 16 / 2**20
    rows = store.info(dense).count
    increase = streaming_increase(root, dense, target)
    info(f"streaming {rows:,} rows ({rows * 16 / 2**20:.0f} MiB) in chunks of {CHUNK_ROWS:,} rows "
         f"({chunk_mib:.0f} MiB): peak +{increase:.1f} MiB over baseline; "
         f"10 years hourly of {target}: +{streaming_increase(root, target, 'h0001'):.2f} MiB")
    report("streaming peak / chunk size", increase / chunk_mib, 2.0, higher_is_better=False)
    bucket_reads(work, args.tiny)


if __name__ == "__main__":
    main()
