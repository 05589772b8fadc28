"""Automatic batch sizing, submission order and the small-batch warning."""

from __future__ import annotations

import pandas as pd
import pytest

from recursive_training.batching import TrainingBatch
from recursive_training.data import VariableInfo
from recursive_training.planning import (
    MIN_WORK_PER_BATCH,
    MIN_WORK_PER_TAIL_BATCH,
    TAIL_TASKS_PER_WORKER,
    WorkEstimate,
    auto_variables_per_batch,
    batch_work,
    largest_first,
    plan_batches,
    small_batch_warning,
    taper_tail,
    typical_work,
)
from recursive_training.retrodiction import RetrodictionSettings, WindowGrid
from recursive_training.retrodiction.costs import ModelCost

DAY = 86_400 * 10**9
ORIGIN = MIN_WORK_PER_BATCH / 250  # a model whose 250 origins are the smallest batch worth a task
NAIVE = WorkEstimate(ModelCost(per_origin=ORIGIN))


def info(name, first="2020-01-01", last="2022-12-31", step_ns=DAY):
    return VariableInfo(name, first, last, 1096, "D", step_ns, f"data/variable={name}/part-0.parquet")


def test_auto_sizing_gives_each_worker_enough_tasks():
    # 2 workers want 16 tasks; 4 windows -> 4 groups of 16 variables -> 4 per group
    assert auto_variables_per_batch(16, 4, 2, 365 * ORIGIN) == 4
    # plenty of windows already: keep all variables together (largest tasks)
    assert auto_variables_per_batch(16, 40, 2, 90 * ORIGIN) == 16
    # never split below the minimum batch size: 16 x 30 origins per window cannot make two batches of 250
    assert MIN_WORK_PER_BATCH == pytest.approx(250 * ORIGIN)
    assert auto_variables_per_batch(16, 2, 2, 30 * ORIGIN) == 16
    # 16 x 40 origins make two batches of 320, not three: groups of at most 8, split 8 + 8
    assert auto_variables_per_batch(16, 2, 2, 40 * ORIGIN) == 8
    assert auto_variables_per_batch(3, 1, 8, 1000 * ORIGIN) == 1


def test_batch_work_follows_data_coverage():
    infos = {"a": info("a"), "b": info("b", first="2021-06-01"), "hourly": info("hourly", step_ns=DAY // 24)}
    batch = TrainingBatch(pd.Timestamp("2021-05-01"), pd.Timestamp("2021-07-01"), ("a", "b", "hourly"))
    # a: 61 days; b: from June 1, 30 days; hourly: 61 * 24
    assert batch_work([batch], infos, NAIVE) == [pytest.approx((61 + 30 + 61 * 24) * ORIGIN)]
    assert batch_work([batch], infos, WorkEstimate(NAIVE.cost, step=2)) == [pytest.approx((61 + 30 + 61 * 24) / 2 * ORIGIN)]


def test_largest_batches_go_first():
    infos = {"a": info("a")}
    short = TrainingBatch(pd.Timestamp("2021-12-25"), pd.Timestamp("2022-01-01"), ("a",))
    long = TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-04-01"), ("a",))
    assert largest_first([short, long], infos, NAIVE) == [long, short]


def test_small_batches_are_warned_about():
    infos = {"a": info("a")}
    tiny = [TrainingBatch(pd.Timestamp("2021-01-01") + pd.Timedelta(days=i), pd.Timestamp("2021-01-02")
                          + pd.Timedelta(days=i), ("a",)) for i in range(10)]
    message = small_batch_warning(typical_work(tiny, infos, NAIVE), submitted=7)
    assert message.startswith("batches are small (about 0.2 ms of model work each, 7 batches)")  # as submitted
    big = [TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-01") + pd.Timedelta(days=250), ("a",))]
    assert small_batch_warning(typical_work(big, infos, NAIVE), 1) is None
    assert small_batch_warning(1.0, 0) is None  # nothing left to submit


def test_tail_pieces_are_never_tiny():
    infos = {name: info(name) for name in "abc"}
    small = [TrainingBatch(pd.Timestamp("2021-01-01") + pd.Timedelta(days=30 * w),
                           pd.Timestamp("2021-01-31") + pd.Timedelta(days=30 * w), tuple(infos)) for w in range(3)]
    assert 3 * 30 * ORIGIN < 2 * MIN_WORK_PER_TAIL_BATCH  # too small to halve
    assert taper_tail(small, batch_work(small, infos, NAIVE), workers=2) == small


def test_plan_batches_sizes_groups_unless_told():
    infos = [info(f"v{i}") for i in range(16)]
    start, end = pd.Timestamp("2021-01-01"), pd.Timestamp("2021-12-27")  # four 90-day windows on this grid:
    grid = WindowGrid(90, anchor=start)
    # automatic: 4 groups of 4 -> 16 equal batches; the tail is then tapered (by hand: with k equal
    # batches left, a batch is cut into ceil(8 / k) pieces, at most one per variable)
    batches, typical = plan_batches(infos, start, end, grid, None, workers=2, estimate=NAIVE)
    assert typical == pytest.approx(4 * 90 * ORIGIN)  # 4 variables x 90 days
    assert small_batch_warning(typical, len(batches)) is None
    assert sorted(len(b.variables) for b in batches) == [1] * 8 + [1, 1, 2] + [2] * 8 + [4] * 9
    batches, _ = plan_batches(infos, start, end, grid, 16, workers=2, estimate=NAIVE)  # the user's size stands
    assert len(batches) == 4
    batches, _ = plan_batches(infos, start, end, grid, None, workers=0, estimate=NAIVE)  # in-process: one task
    assert len(batches) == 4 and {len(b.variables) for b in batches} == {16}    # at a time, no tail to cut
    batches, typical = plan_batches(infos[:1], start, start + pd.Timedelta(days=10), WindowGrid(1), None, workers=2,
                                    estimate=NAIVE)
    warning = small_batch_warning(typical, len(batches))
    assert len(batches) == 10 and warning.startswith("batches are small (about 0.2 ms of model work each, 10 batches)")


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
    tapered = taper_tail(batches, batch_work(batches, infos, NAIVE), workers=2)

    def pairs(bs):
        return sorted((b.start_time, v) for b in bs for v in b.variables)

    assert pairs(tapered) == pairs(batches)  # nothing lost, nothing twice
    assert [b.start_time for b in tapered] == sorted(b.start_time for b in tapered)  # still in time order
    # windows are left whole while at least 8 remain; then ceil(8 / k) pieces for k left, each piece
    # keeping at least MIN_WORK_PER_TAIL_BATCH (62.5 origins' worth) of a window's 480 origins: at most 7 pieces
    assert [len(b.variables) for b in tapered[:17]] == [16] * 17
    most = int(16 * 30 * ORIGIN / MIN_WORK_PER_TAIL_BATCH + 1e-9)
    pieces = [min(most, -(-2 * TAIL_TASKS_PER_WORKER // k)) for k in range(8, 0, -1)]
    assert pieces == [1, 2, 2, 2, 2, 3, 4, 7]
    assert len(tapered) == 17 + sum(pieces)
    ideal = 25 * 30 * 16 / 2
    before = _makespan(batch_work(largest_first(batches, infos, NAIVE), infos, NAIVE), 2) / ORIGIN
    after = _makespan(batch_work(largest_first(tapered, infos, NAIVE), infos, NAIVE), 2) / ORIGIN
    assert before == pytest.approx(13 * 30 * 16)  # one worker runs a whole window more than the other
    assert after - ideal <= 30 * 16 / 7 + 1e-6  # the imbalance is at most a seventh of a window


def test_work_is_weighed_by_model_cost_not_origins_alone():
    """An MLP's fit costs the same however few origins a window holds; a costly model splits sooner."""
    from recursive_training.retrodiction.costs import mlp_cost

    infos = {"a": info("a"), "b": info("b", last="2021-01-05")}  # b ends 5 days into the window
    window = (pd.Timestamp("2021-01-01"), pd.Timestamp("2021-03-02"))  # 60 days, after a year of history
    full, edge = (TrainingBatch(*window, (name,)) for name in "ab")
    naive = WorkEstimate.of(RetrodictionSettings(models=("naive",)))
    assert batch_work([full], infos, naive)[0] / batch_work([edge], infos, naive)[0] == pytest.approx(60 / 5)
    settings = RetrodictionSettings(models=("mlp(epochs=100,hidden_size=16,lags=7)",), lookback=200)
    mlp = WorkEstimate.of(settings)
    # by hand: 100 epochs x (50 us + 0.25 ns x (7 x 16 + 16 x 16 + 16) units x 200 lookback points) per fit,
    # 8 us per origin; the history before the window (366 days) is cut to the lookback's 200 points
    fit = 100 * (50e-6 + 0.25e-9 * (7 * 16 + 16 * 16 + 16) * 200)
    assert mlp.cost == mlp_cost(settings.models[0].parameters)
    assert batch_work([full, edge], infos, mlp) == [pytest.approx(fit + 60 * 8e-6), pytest.approx(fit + 5 * 8e-6)]
    assert batch_work([edge], infos, mlp)[0] > 0.9 * batch_work([full], infos, mlp)[0]
    # refits every 20 origins: 1 + 60 // 20 fits in the full window
    refitting = WorkEstimate.of(RetrodictionSettings(models=settings.models, lookback=200, refit_every=20))
    assert batch_work([full], infos, refitting)[0] == pytest.approx(4 * fit + 60 * 8e-6)
    # a lookback in time: 90 days of a daily series are 90 points
    by_span = WorkEstimate.of(RetrodictionSettings(models=settings.models, lookback="90D"))
    assert batch_work([full], infos, by_span)[0] == pytest.approx(
        100 * (50e-6 + 0.25e-9 * 384 * 90) + 60 * 8e-6)

    # 16 variables x 2 windows of 30 origins on 2 workers: too little naive work to split a window
    # (480 origins, 1.4 ms), but ARIMA's (21 s) splits each window into the 8 groups the workers want
    many = [info(f"v{i}") for i in range(16)]
    start = pd.Timestamp("2021-01-01")
    grid = WindowGrid(30, anchor=start)
    arima = WorkEstimate.of(RetrodictionSettings(models=("arima",)))
    arima_window = batch_work([TrainingBatch(start, start + pd.Timedelta(days=30), ("v0",))], {"v0": many[0]},
                              arima)[0]
    naive_window = batch_work([TrainingBatch(start, start + pd.Timedelta(days=30), ("v0",))], {"v0": many[0]},
                              naive)[0]
    assert naive_window == pytest.approx(30 * 3e-6) and arima_window > 1.0
    assert auto_variables_per_batch(16, 2, 2, naive_window) == 16
    assert auto_variables_per_batch(16, 2, 2, arima_window) == 2
    end = start + pd.Timedelta(days=60)
    for estimate in (naive, arima):  # in-process: one task at a time, nothing to split
        assert [len(b.variables) for b in plan_batches(many, start, end, grid, None, 0, estimate)[0]] == [16, 16]
    naive_on_two, _ = plan_batches(many, start, end, grid, None, 2, naive)
    arima_on_two, _ = plan_batches(many, start, end, grid, None, 2, arima)
    # naive: each window whole, too small even for a tail piece (12.5 ms)
    assert [len(b.variables) for b in naive_on_two] == [16, 16]
    # ARIMA: 8 groups of 2 per window, and the tail cut down to single variables
    assert len(arima_on_two) > 16 and max(len(b.variables) for b in arima_on_two) == 2
    assert min(len(b.variables) for b in arima_on_two) == 1
