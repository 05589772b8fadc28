"""Automatic batch sizing, submission order and the small-batch warning."""

from __future__ import annotations

import pandas as pd

from recursive_training.batching import TrainingBatch
from recursive_training.data import VariableInfo
from recursive_training.planning import (
    MIN_ORIGINS_PER_BATCH,
    MIN_ORIGINS_PER_TAIL_BATCH,
    TAIL_TASKS_PER_WORKER,
    auto_variables_per_batch,
    batch_origins,
    largest_first,
    plan_batches,
    small_batch_warning,
    taper_tail,
    typical_origins,
)
from recursive_training.retrodiction import WindowGrid

DAY = 86_400 * 10**9


def info(name, first="2020-01-01", last="2022-12-31", step_ns=DAY):
    return VariableInfo(name, first, last, 1096, "D", step_ns, f"data/variable={name}/part-0.parquet")


def test_auto_sizing_gives_each_worker_enough_tasks():
    # 2 workers want 16 tasks; 4 windows -> 4 groups of 16 variables -> 4 per group
    assert auto_variables_per_batch(16, 4, 2, origins_per_variable_window=365) == 4
    # plenty of windows already: keep all variables together (largest tasks)
    assert auto_variables_per_batch(16, 40, 2, origins_per_variable_window=90) == 16
    # never split below the minimum batch size: 16 x 30 origins per window cannot make two batches of 250
    assert auto_variables_per_batch(16, 2, 2, origins_per_variable_window=30) == 16
    # 16 x 40 origins make two batches of 320, not three: groups of at most 8, split 8 + 8
    assert auto_variables_per_batch(16, 2, 2, origins_per_variable_window=40) == 8
    assert auto_variables_per_batch(3, 1, 8, origins_per_variable_window=1000) == 1


def test_batch_origins_follow_data_coverage():
    infos = {"a": info("a"), "b": info("b", first="2021-06-01"), "hourly": info("hourly", step_ns=DAY // 24)}
    batch = TrainingBatch(pd.Timestamp("2021-05-01"), pd.Timestamp("2021-07-01"), ("a", "b", "hourly"))
    # a: 61 days; b: from June 1, 30 days; hourly: 61 * 24
    assert batch_origins([batch], infos, step=1) == [61 + 30 + 61 * 24]
    assert batch_origins([batch], infos, step=2) == [(61 + 30 + 61 * 24) / 2]


def test_largest_batches_go_first():
    infos = {"a": info("a")}
    short = TrainingBatch(pd.Timestamp("2021-12-25"), pd.Timestamp("2022-01-01"), ("a",))
    long = TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-04-01"), ("a",))
    assert largest_first([short, long], infos, 1) == [long, short]


def test_small_batches_are_warned_about():
    infos = {"a": info("a")}
    tiny = [TrainingBatch(pd.Timestamp("2021-01-01") + pd.Timedelta(days=i), pd.Timestamp("2021-01-02")
                          + pd.Timedelta(days=i), ("a",)) for i in range(10)]
    message = small_batch_warning(typical_origins(tiny, infos, 1), submitted=7)
    assert message.startswith("batches are small (about 1 forecast origins each, 7 batches)")  # as submitted
    big = [TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-01")
                         + pd.Timedelta(days=MIN_ORIGINS_PER_BATCH), ("a",))]
    assert small_batch_warning(typical_origins(big, infos, 1), 1) is None
    assert small_batch_warning(1.0, 0) is None  # nothing left to submit


def test_tail_pieces_are_never_tiny():
    infos = {name: info(name) for name in "abc"}
    small = [TrainingBatch(pd.Timestamp("2021-01-01") + pd.Timedelta(days=30 * w),
                           pd.Timestamp("2021-01-31") + pd.Timedelta(days=30 * w), tuple(infos)) for w in range(3)]
    assert 3 * 30 < 2 * MIN_ORIGINS_PER_TAIL_BATCH  # too small to halve
    assert taper_tail(small, infos, step=1, workers=2) == small


def test_plan_batches_sizes_groups_unless_told():
    infos = [info(f"v{i}") for i in range(16)]
    start, end = pd.Timestamp("2021-01-01"), pd.Timestamp("2021-12-27")  # four 90-day windows on this grid:
    grid = WindowGrid(90, anchor=start)
    # automatic: 4 groups of 4 -> 16 equal batches; the tail is then tapered (by hand: with k equal
    # batches left, a batch is cut into ceil(8 / k) pieces, at most one per variable)
    batches, typical = plan_batches(infos, start, end, grid, None, workers=2, step=1)
    assert typical == 4 * 90 and small_batch_warning(typical, len(batches)) is None  # 4 variables x 90 days
    assert sorted(len(b.variables) for b in batches) == [1] * 8 + [1, 1, 2] + [2] * 8 + [4] * 9
    batches, _ = plan_batches(infos, start, end, grid, 16, workers=2, step=1)  # the user's size stands
    assert len(batches) == 4
    batches, _ = plan_batches(infos, start, end, grid, None, workers=0, step=1)  # in-process: one task
    assert len(batches) == 4 and {len(b.variables) for b in batches} == {16}    # at a time, no tail to cut
    batches, typical = plan_batches(infos[:1], start, start + pd.Timedelta(days=10), WindowGrid(1), None, workers=2,
                                    step=1)
    warning = small_batch_warning(typical, len(batches))
    assert len(batches) == 10 and warning.startswith("batches are small (about 1 forecast origins each, 10 batches)")


def _makespan(sizes: list[float], workers: int) -> float:
    """Greedy list scheduling in submission order, as Dask hands queued tasks to free workers."""
    free = [0.0] * workers
    for size in sizes:
        free[free.index(min(free))] += size
    return max(free)


def test_taper_tail_keeps_every_pair_once_and_shortens_the_tail():
    infos = {f"v{i}": info(f"v{i}", last="2023-12-31") for i in range(16)}  # covers every window in full
    windows = [pd.Timestamp("2021-01-01") + pd.Timedelta(days=30 * w) for w in range(26)]
    batches = [TrainingBatch(lo, hi, tuple(infos)) for lo, hi in zip(windows, windows[1:])]  # 25 x 16 variables
    tapered = taper_tail(batches, infos, step=1, workers=2)

    def pairs(bs):
        return sorted((b.start_time, v) for b in bs for v in b.variables)

    assert pairs(tapered) == pairs(batches)  # nothing lost, nothing twice
    assert [b.start_time for b in tapered] == sorted(b.start_time for b in tapered)  # still in time order
    # windows are left whole while at least 8 remain; then ceil(8 / k) pieces for k left, each piece
    # keeping at least MIN_ORIGINS_PER_TAIL_BATCH (62.5) of a window's 480 origins: at most 7 pieces
    assert [len(b.variables) for b in tapered[:17]] == [16] * 17
    most = int(16 * 30 // MIN_ORIGINS_PER_TAIL_BATCH)
    pieces = [min(most, -(-2 * TAIL_TASKS_PER_WORKER // k)) for k in range(8, 0, -1)]
    assert pieces == [1, 2, 2, 2, 2, 3, 4, 7]
    assert len(tapered) == 17 + sum(pieces)
    ideal = 25 * 30 * 16 / 2
    before = _makespan(batch_origins(largest_first(batches, infos, 1), infos, 1), 2)
    after = _makespan(batch_origins(largest_first(tapered, infos, 1), infos, 1), 2)
    assert before == 13 * 30 * 16  # one worker runs a whole window more than the other
    assert after - ideal <= 30 * 16 / 7  # the imbalance is at most a seventh of a window
