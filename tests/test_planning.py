"""Automatic batch sizing, submission order and the small-batch warning."""

from __future__ import annotations

import pandas as pd

from recursive_training.batching import TrainingBatch
from recursive_training.data import VariableInfo
from recursive_training.planning import (
    MIN_ORIGINS_PER_BATCH,
    auto_variables_per_batch,
    estimated_origins,
    largest_first,
    plan_batches,
    small_batch_warning,
)

DAY = 86_400 * 10**9


def info(name, first="2020-01-01", last="2022-12-31", step_ns=DAY):
    return VariableInfo(name, first, last, 1096, "D", step_ns, f"data/variable={name}/part-0.parquet")


def test_auto_sizing_gives_each_worker_enough_tasks():
    # 2 workers want 16 tasks; 4 windows -> 4 groups of 16 variables -> 4 per group
    assert auto_variables_per_batch(16, 4, 2, origins_per_variable_window=365) == 4
    # plenty of windows already: keep all variables together (largest tasks)
    assert auto_variables_per_batch(16, 40, 2, origins_per_variable_window=90) == 16
    # never split below the minimum batch size: 30 origins per variable-window -> at least 9 variables
    assert auto_variables_per_batch(16, 2, 2, origins_per_variable_window=30) == 9
    assert auto_variables_per_batch(3, 1, 8, origins_per_variable_window=1000) == 1


def test_estimated_origins_follow_data_coverage():
    infos = {"a": info("a"), "b": info("b", first="2021-06-01"), "hourly": info("hourly", step_ns=DAY // 24)}
    batch = TrainingBatch(pd.Timestamp("2021-05-01"), pd.Timestamp("2021-07-01"), ("a", "b", "hourly"))
    # a: 61 days; b: from June 1, 30 days; hourly: 61 * 24
    assert estimated_origins(batch, infos, step=1) == 61 + 30 + 61 * 24
    assert estimated_origins(batch, infos, step=2) == (61 + 30 + 61 * 24) / 2


def test_largest_batches_go_first():
    infos = {"a": info("a")}
    short = TrainingBatch(pd.Timestamp("2021-12-25"), pd.Timestamp("2022-01-01"), ("a",))
    long = TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-04-01"), ("a",))
    assert largest_first([short, long], infos, 1) == [long, short]


def test_small_batches_are_warned_about():
    infos = {"a": info("a")}
    tiny = [TrainingBatch(pd.Timestamp("2021-01-01") + pd.Timedelta(days=i), pd.Timestamp("2021-01-02")
                          + pd.Timedelta(days=i), ("a",)) for i in range(10)]
    message = small_batch_warning(tiny, infos, 1)
    assert message.startswith("batches are small (about 1 forecast origins each, 10 batches)")
    big = [TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-01")
                         + pd.Timedelta(days=MIN_ORIGINS_PER_BATCH), ("a",))]
    assert small_batch_warning(big, infos, 1) is None


def test_plan_batches_sizes_groups_unless_told():
    infos = [info(f"v{i}") for i in range(16)]
    start, end = pd.Timestamp("2021-01-01"), pd.Timestamp("2021-12-27")  # four 90-day windows
    batches, warning = plan_batches(infos, start, end, 90, None, workers=2, step=1)
    assert len(batches) == 16 and {len(b.variables) for b in batches} == {4} and warning is None
    batches, warning = plan_batches(infos, start, end, 90, 16, workers=2, step=1)
    assert len(batches) == 4 and warning is None
    batches, warning = plan_batches(infos[:1], start, start + pd.Timedelta(days=10), 1, None, workers=2, step=1)
    assert len(batches) == 10 and warning.startswith("batches are small (about 1 forecast origins each")
