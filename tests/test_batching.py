"""Windows × variable groups, and stable batch ids."""

from __future__ import annotations

import pandas as pd
import pytest

from recursive_training.batching import TrainingBatch, prepare_training_batches, split_evenly
from recursive_training.errors import ConfigError


def test_product_of_windows_and_groups():
    batches = prepare_training_batches(["a", "b", "c"], "2021-01-01", "2021-03-01", 30, variables_per_batch=2)
    windows = sorted({(b.start_time, b.end_time) for b in batches})
    assert windows == [
        (pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-31")),
        (pd.Timestamp("2021-01-31"), pd.Timestamp("2021-03-01")),  # the last window is cut at the end
    ]
    assert [b.variables for b in batches] == [("a", "b"), ("c",)] * 2
    assert len({b.batch_id for b in batches}) == 4


def test_groups_are_as_even_as_the_maximum_allows():
    names = [f"v{i}" for i in range(16)]
    batches = prepare_training_batches(names, "2021-01-01", "2021-01-31", 30, variables_per_batch=9)
    assert [len(b.variables) for b in batches] == [8, 8]  # not 9 + 7
    assert split_evenly(names[:7], 3) == [("v0", "v1", "v2"), ("v3", "v4"), ("v5", "v6")]
    assert split_evenly(names[:2], 5) == [("v0",), ("v1",)]  # never an empty group
    assert split_evenly(names[:3], 0) == [tuple(names[:3])]


def test_all_variables_in_one_group_by_default():
    batches = prepare_training_batches(["a", "b"], "2021-01-01", "2021-01-11", 2.5)
    assert len(batches) == 4 and all(b.variables == ("a", "b") for b in batches)
    assert batches[1].start_time == pd.Timestamp("2021-01-03 12:00")


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
