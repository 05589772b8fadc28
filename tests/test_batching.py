"""Windows × variable groups, and stable batch ids."""

from __future__ import annotations

import pandas as pd
import pytest

from recursive_training.base import ConfigError
from recursive_training.batching import TrainingBatch, prepare_training_batches, split_evenly
from recursive_training.retrodiction import WindowGrid


def test_windows_lie_on_a_fixed_grid_and_the_range_clips_them():
    batches = prepare_training_batches(["a", "b", "c"], "2021-01-01", "2021-03-01", 30, variables_per_batch=2)
    # by hand: 2021-01-01 is day 18628 after 1970-01-01, inside 30-day window 620 = days 18600..18629,
    # which ends on day 18630 = 2021-01-03; windows 621 and 622 follow, the last clipped at the end
    spans = sorted({(b.window_index, b.start_time, b.end_time, b.window_start) for b in batches})
    assert spans == [
        (620, pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-03"), pd.Timestamp("2020-12-04")),
        (621, pd.Timestamp("2021-01-03"), pd.Timestamp("2021-02-02"), pd.Timestamp("2021-01-03")),
        (622, pd.Timestamp("2021-02-02"), pd.Timestamp("2021-03-01"), pd.Timestamp("2021-02-02")),
    ]
    assert all(b.window_end - b.window_start == pd.Timedelta(days=30) for b in batches)
    assert [b.variables for b in batches] == [("a", "b"), ("c",)] * 3
    assert len({b.batch_id for b in batches}) == 6
    later = prepare_training_batches(["a"], "2021-01-10", "2021-02-10", 30)
    assert [b.window_start for b in later] == [pd.Timestamp("2021-01-03"), pd.Timestamp("2021-02-02")]  # same grid


def test_calendar_windows():
    grid = WindowGrid(period="quarter")
    batches = prepare_training_batches(["a"], "2021-02-15", "2021-08-01", 1, grid=grid)
    assert [(b.start_time, b.end_time, b.window_start, b.window_end) for b in batches] == [
        (pd.Timestamp("2021-02-15"), pd.Timestamp("2021-04-01"), pd.Timestamp("2021-01-01"), pd.Timestamp("2021-04-01")),
        (pd.Timestamp("2021-04-01"), pd.Timestamp("2021-07-01"), pd.Timestamp("2021-04-01"), pd.Timestamp("2021-07-01")),
        (pd.Timestamp("2021-07-01"), pd.Timestamp("2021-08-01"), pd.Timestamp("2021-07-01"), pd.Timestamp("2021-10-01")),
    ]
    assert batches[1].previous_window_start == pd.Timestamp("2021-01-01")
    assert WindowGrid(period="month").id == "month" and WindowGrid(7).id == "7D"
    assert WindowGrid(7, anchor=pd.Timestamp("2000-01-03")).id == "7D@2000-01-03T00:00:00"


def test_groups_are_as_even_as_the_maximum_allows():
    names = [f"v{i}" for i in range(16)]
    batches = prepare_training_batches(names, "2021-01-03", "2021-02-02", 30, variables_per_batch=9)
    assert [len(b.variables) for b in batches] == [8, 8]  # not 9 + 7
    assert split_evenly(names[:7], 3) == [("v0", "v1", "v2"), ("v3", "v4"), ("v5", "v6")]
    assert split_evenly(names[:2], 5) == [("v0",), ("v1",)]  # never an empty group
    assert split_evenly(names[:3], 0) == [tuple(names[:3])]


def test_all_variables_in_one_group_by_default():
    batches = prepare_training_batches(["a", "b"], "2021-01-01", "2021-01-11", 2.5)
    # 2.5-day windows from 1970: 2021-01-01 = day 18628 = 7451.2 windows; window 7451 is days
    # 18627.5..18630, so the spans start on 01-01, 01-03, 01-05 12:00, 01-08 and 01-10 12:00
    assert len(batches) == 5 and all(b.variables == ("a", "b") for b in batches)
    assert [b.start_time for b in batches][1:3] == [pd.Timestamp("2021-01-03"), pd.Timestamp("2021-01-05 12:00")]


def test_batch_ids_are_stable_and_order_free():
    one = TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01"), ("x", "y"))
    two = TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01"), ("y", "x"))
    other = TrainingBatch(pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-02"), ("x", "y"))
    assert one.batch_id == two.batch_id != other.batch_id
    assert one.batch_id.startswith("20210101T0000-20210201T0000-")


@pytest.mark.parametrize("args,message", [
    (([], "2021-01-01", "2021-02-01", 10), "no variables"),
    ((["a"], "2021-02-01", "2021-01-01", 10), "must be before"),
    ((["a"], "2021-01-01", "2021-02-01", 0), "batch_size_days"),
    ((["a"], "2021-01-01", "2021-02-01", -3), "batch_size_days"),
    ((["a"], "not a date", "2021-02-01", 10), "start"),
])
def test_bad_slicing_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        prepare_training_batches(*args)


def test_bad_group_size():
    with pytest.raises(ConfigError, match="variables_per_batch"):
        prepare_training_batches(["a"], "2021-01-01", "2021-02-01", 10, variables_per_batch=0)
