#!/usr/bin/env python3
"""Model registry: filtered listings at 100,000 models, and registering / loading one model.

The catalog is filled as 100,000 registrations would leave it (rows and tags
written straight into its tables, since registering 100,000 real models
means 100,000 fsynced files and minutes of setup), then listed through the
registry's own API with the filters users type: by variable, by family and
status, by tag, by tag and variable. Each query's median over repeats is
compared with the 50 ms target. A real registration and load of an AR and an
MLP model are timed for context.

Target: every filtered listing under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from pathlib import Path

import numpy as np
from common import info, report, scratch_directory

from recursive_training.registry import ModelRegistry, data_fingerprint
from recursive_training.registry.catalog import COLUMNS
from recursive_training.retrodiction import parse_model_specs

FAMILIES = ("naive", "seasonal_naive", "ar", "mlp", "lstm")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="1,000 models, to check the script runs")
    parser.add_argument("--workdir", type=Path, default=None, help="where the registry goes (default: a temp dir)")
    return parser.parse_args()


def fill(root: Path, models: int) -> None:
    """``models`` catalog rows over models/5 variables, 5 families, 10 tags, a tenth deprecated."""
    ModelRegistry(root).close()  # the real schema and indexes
    rows, tags = [], []
    for i in range(models):
        family = FAMILIES[i % len(FAMILIES)]
        rows.append((f"{i:016x}", f"var{i // len(FAMILIES):06d}", family, family, family, "{}", "2020-01-01",
                     "2024-01-01", "f" * 32, 0.5, 0.4, 0.6, json.dumps({"mase": 1.0}),
                     "deprecated" if i % 10 == 0 else "active", f"2026-01-01T00:00:{i % 60:02d}",
                     "2026-01-01T00:00:00", f"{i:016x}.npz", "0" * 64))
        tags.extend((f"{i:016x}", f"tag{t}") for t in range(10) if i % (t + 2) == 0)
    with sqlite3.connect(root / "catalog.sqlite") as db:
        db.executemany(f"INSERT INTO models ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        db.executemany("INSERT INTO model_tags (model_id, tag) VALUES (?, ?)", tags)
        db.execute("ANALYZE")


def median_ms(call, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    args = arguments()
    work = scratch_directory(args.workdir, "bench-registry-")
    models = 1_000 if args.tiny else 100_000
    root = work / "registry"
    started = time.perf_counter()
    fill(root, models)
    info(f"catalog of {models:,} models filled in {time.perf_counter() - started:.1f} s")
    variable = f"var{models // len(FAMILIES) // 2:06d}"
    queries = {
        "by variable": dict(variable=variable),
        "by family and status (first 100)": dict(family="ar", status="active", limit=100),
        "by tag (first 100)": dict(tags=["tag3"], limit=100),
        "by two tags and variable": dict(tags=["tag0", "tag1"], variable=variable),
    }
    with ModelRegistry(root) as registry:
        slowest = 0.0
        for label, filters in queries.items():
            found = len(registry.list_models(**filters))
            elapsed = median_ms(lambda: registry.list_models(**filters))
            slowest = max(slowest, elapsed)
            info(f"list_models {label}: {found} found, {elapsed:.2f} ms (median of 20)")
        timestamps = np.arange("2020-01-01", 400, dtype="datetime64[D]").astype("datetime64[ns]")
        values = np.sin(np.arange(400) / 7.0) * 5 + 20
        for text in ("ar(order=7)", "mlp(epochs=50)"):
            spec = parse_model_specs([text])[0]
            model = spec.build().fit(values)
            begun = time.perf_counter()
            entry = registry.register_model(model, spec, variable="bench", train_start=str(timestamps[0]),
                                            train_end=str(timestamps[-1]),
                                            data_fingerprint=data_fingerprint(timestamps, values))
            registered = time.perf_counter() - begun
            begun = time.perf_counter()
            registry.load_model(entry.id)
            info(f"{text}: registered in {registered * 1000:.1f} ms, loaded in "
                 f"{(time.perf_counter() - begun) * 1000:.1f} ms")
    report("registry listing, slowest filtered query", slowest, 50, higher_is_better=False, unit="ms",
           detail=f"{models:,} models, median of 20")


if __name__ == "__main__":
    main()
