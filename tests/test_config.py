"""Typed configuration from files and mappings."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from recursive_training.base import ConfigError
from recursive_training.config import TrainingConfig, load_config_file


def test_from_mapping_splits_settings_and_coerces(tmp_path):
    config = TrainingConfig.from_mapping({
        "store_path": str(tmp_path), "models": "naive, ar", "horizon": 3, "start": "2021-01-01T00:00:00+02:00",
        "batch-size-days": 10, "variables": ["a", "b"],
    })
    assert [s.id for s in config.retrodiction.models] == ["naive", "ar"] and config.retrodiction.horizon == 3
    assert config.start == pd.Timestamp("2020-12-31 22:00")  # aware times become naive UTC
    assert config.batch_size_days == 10.0 and config.variables == ("a", "b")
    assert pickle.loads(pickle.dumps(config)) == config
    assert TrainingConfig.from_mapping(config.to_dict()) == config


@pytest.mark.parametrize("values,message", [
    ({"store_path": "s", "colour": "red"}, "unknown option 'colour'"),
    ({"horizon": 3}, "store_path"),
    ({"store_path": "s", "horizon": 0}, "'horizon' must be at least 1"),
    ({"store_path": "s", "horizon": 2.5}, "'horizon' must be a whole number"),
    ({"store_path": "s", "models": "naive,prophet"}, "unknown model 'prophet'"),
    ({"store_path": "s", "models": ""}, "at least one model"),
    ({"store_path": "s", "tolerance": -1}, "'tolerance' must be greater than 0"),
    ({"store_path": "s", "start": "2021-02-01", "end": "2021-01-01"}, "must be before"),
    ({"store_path": "s", "store_kind": "fast"}, "unknown 'fast'"),
    ({"store_path": "s", "workers": -1}, "'workers' must be at least 0"),
    ({"store_path": "s", "run_id": "../up"}, "plain name"),
    ({"store_path": "s", "batch_size_days": float("nan")}, "finite"),
])
def test_invalid_values_name_the_option(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig.from_mapping(values)


def test_toml_and_yaml_files(tmp_path):
    (tmp_path / "c.toml").write_text('store_path = "s"\nmodels = ["naive", "ar"]\nhorizon = 5\n')
    (tmp_path / "c.yaml").write_text("store_path: s\nmodels: [naive, ar]\nhorizon: 5\n")
    assert load_config_file(tmp_path / "c.toml") == load_config_file(tmp_path / "c.yaml")


@pytest.mark.parametrize("name,text,message", [
    ("bad.toml", "horizon = = 3", "malformed"),
    ("bad.yaml", "horizon: [1, 2", "malformed"),
    ("list.yaml", "- a\n- b\n", "mapping"),
    ("nested.toml", "[section]\nhorizon = 3\n", "keep options flat"),
    ("c.ini", "horizon=3", "use a .toml"),
])
def test_bad_config_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config_file(tmp_path / name)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config_file(tmp_path / "absent.toml")


def test_run_id_is_deterministic_and_paths_follow_output_dir(tmp_path):
    a = TrainingConfig.from_mapping({"store_path": tmp_path, "start": "2021-01-01", "end": "2022-01-01",
                                     "output_dir": tmp_path / "out"})
    b = TrainingConfig.from_mapping({"store_path": tmp_path, "start": "2021-01-01", "end": "2022-01-01",
                                     "output_dir": tmp_path / "out"})
    c = TrainingConfig.from_mapping({"store_path": tmp_path, "start": "2021-01-01", "end": "2022-01-01",
                                     "output_dir": tmp_path / "out", "horizon": 3})
    assert a.resolved_run_id() == b.resolved_run_id() != c.resolved_run_id()
    assert a.results_path == tmp_path / "out" / a.resolved_run_id() / "results.json"
    assert a.trust_db_path == tmp_path / "out" / "trust.sqlite"
