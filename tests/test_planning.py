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
    message = small_batch_warning(batch_work(tiny, infos, NAIVE)[0], submitted=7)  # every one alike
    assert message.startswith("batches are small (about 0.2 ms of model work each, 7 batches)")  # as submitted
    big = [TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-01") + pd.Timedelta(days=250), ("a",))]
    assert small_batch_warning(batch_work(big, infos, NAIVE)[0], 1) is None
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
    batches, _ = plan_batches(infos, start, end, grid, None, workers=1, estimate=NAIVE)  # ceil(8 / 4) = 2 groups a
    assert sorted(len(b.variables) for b in batches) == [8] * 8  # window; one worker has no tail to cut either
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
    # by hand: 100 epochs x (25 us + 0.16 ns x (7 x 16 + 16 x 16 + 16) units x 200 lookback points) per fit,
    # 8 us per origin, and 100 epochs x 350 us once per batch (its MLPs train as one); the history before the
    # window (366 days) is cut to the lookback's 200 points
    fit, once = 100 * (25e-6 + 0.16e-9 * (7 * 16 + 16 * 16 + 16) * 200), 100 * 350e-6
    assert mlp.cost.per_batch == once and mlp.cost.per_fit == 100 * 25e-6
    own = mlp_cost(settings.models[0].parameters)  # one model: the run's cost is its own
    assert mlp.cost == ModelCost(own.per_origin, own.per_fit, own.per_training_point, own.per_batch)
    assert batch_work([full, edge], infos, mlp) == [pytest.approx(fit + 60 * 8e-6 + once),
                                                    pytest.approx(fit + 5 * 8e-6 + once)]
    assert batch_work([edge], infos, mlp)[0] > 0.9 * batch_work([full], infos, mlp)[0]
    both = TrainingBatch(*window, ("a", "b"))  # two variables share the batch's cost
    assert batch_work([both], infos, mlp) == [pytest.approx(2 * fit + 65 * 8e-6 + once)]
    # refits every 20 origins: 1 + 60 // 20 fits in the full window, each trained alone (paying the group's cost)
    refitting = WorkEstimate.of(RetrodictionSettings(models=settings.models, lookback=200, refit_every=20))
    assert batch_work([full], infos, refitting)[0] == pytest.approx(4 * (fit + once) + 60 * 8e-6)
    # a lookback in time: 90 days of a daily series are 90 points
    by_span = WorkEstimate.of(RetrodictionSettings(models=settings.models, lookback="90D"))
    assert batch_work([full], infos, by_span)[0] == pytest.approx(
        100 * (25e-6 + 0.16e-9 * 384 * 90) + 60 * 8e-6 + once)

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


def test_models_trained_together_share_their_costs():
    """A grid's MLPs of one shape pay the batch's cost once; those that differ only in epochs share a training."""
    def cost(*specs, **options):
        return WorkEstimate.of(RetrodictionSettings(models=specs, **options)).cost

    units = 14 * 32 + 32 * 32 + 32  # the default shape: lags 14, hidden 32
    point = 0.16e-9 * units
    # epochs 50 and 150, one learning rate: one training of 150 epochs, one group
    grid = cost("mlp(epochs=50)", "mlp(epochs=150)")
    assert grid.per_fit == pytest.approx(150 * 25e-6) and grid.per_training_point == pytest.approx(150 * point)
    assert grid.per_batch == pytest.approx(150 * 350e-6) and grid.per_origin == pytest.approx(2 * 8e-6)
    # two learning rates: two trainings, still one group
    rates = cost("mlp(epochs=100,learning_rate=0.01)", "mlp(epochs=100,learning_rate=0.001)")
    assert rates.per_fit == pytest.approx(2 * 100 * 25e-6) and rates.per_batch == pytest.approx(100 * 350e-6)
    # another shape: another group; a model that trains alone adds its fits only
    shapes = cost("mlp(epochs=100)", "mlp(epochs=100,hidden_size=16)", "ar(order=3)")
    assert shapes.per_batch == pytest.approx(2 * 100 * 350e-6)
    assert shapes.per_fit == pytest.approx(2 * 100 * 25e-6)
    # fitted one by one (train_together off): nothing is shared, each fit pays its group's cost
    alone = cost("mlp(epochs=50)", "mlp(epochs=150)", train_together=False)
    assert alone.per_batch == 0 and alone.per_fit == pytest.approx(200 * (25e-6 + 350e-6))
    assert alone.per_training_point == pytest.approx(200 * point)


def test_a_batch_cost_keeps_windows_whole_that_naive_work_would_cut():
    """Each piece of a cut batch pays its models' batch cost again: with it, neither the group size nor the
    tail cuts batches into pieces that would spend much of their time on it."""
    once = 0.05
    estimate = WorkEstimate(ModelCost(per_origin=ORIGIN, per_batch=once))
    # 16 variables x 90 origins of own work (0.288 s) per window on 4 workers: 16 groups wanted; 5 of 50 ms
    # affordable without the batch cost, 1 with it (each group should hold 3 x 0.05 s)
    assert auto_variables_per_batch(16, 2, 4, 90 * ORIGIN) == 4
    assert auto_variables_per_batch(16, 2, 4, 90 * ORIGIN, once) == 16
    infos = {f"v{i}": info(f"v{i}", last="2023-12-31") for i in range(16)}
    windows = [pd.Timestamp("2021-01-01") + pd.Timedelta(days=90 * w) for w in range(9)]
    batches = [TrainingBatch(lo, hi, tuple(infos)) for lo, hi in zip(windows, windows[1:])]
    sizes = batch_work(batches, infos, estimate)
    assert sizes == [pytest.approx(16 * 90 * ORIGIN + once)] * 8
    # by hand: k pieces add (k - 1) x 0.05 s and, run last, leave W - 1 workers idle for half of a 0.288 / k
    # piece: at most floor(sqrt((W - 1) x 0.288 / (2 x 0.05))) pieces, 1 on 1 or 2 workers, 2 on 4
    for workers in (1, 2):
        assert taper_tail(batches, sizes, workers=workers, per_batch=once) == batches
    # on 4 workers the first window's share of the work left is already 2.704 / 16 = 0.169 s, less than its own
    # 0.288 s (ceil(0.288 / (0.169 - 0.05)) = 3 pieces wanted): every window is cut, into the 2 it may take
    tapered = taper_tail(batches, sizes, workers=4, per_batch=once)
    assert [len(b.variables) for b in tapered] == [8] * 16
    without = taper_tail(batches, batch_work(batches, infos, NAIVE), workers=4)
    assert min(len(b.variables) for b in without) < 8  # the same work without a batch cost is cut finer
    # windows cut into batches of naive-sized own work that pay the cost are small however long each takes;
    # uncut windows are judged by Dask's cost per task alone (a batch cannot hold more than its window)
    assert small_batch_warning(0.02 + once, 10, once, cut=True).startswith("batches are small (about 70 ms")
    assert small_batch_warning(3 * once + once, 10, once, cut=True) is None
    assert small_batch_warning(0.02 + once, 10, once) is None
    assert small_batch_warning(0.04, 10, 0.0).startswith("batches are small (about 40 ms")
