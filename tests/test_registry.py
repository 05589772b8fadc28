"""The model registry keeps fitted models exactly, finds them by what they are, and never loads a changed file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import threading

import numpy as np
import pytest

from recursive_training.base import ArtifactIntegrityError, ConfigError, RegistryError, UnknownModelError
from recursive_training.registry import ModelRegistry, Registration, data_fingerprint, encode_state
from recursive_training.retrodiction import parse_model_specs

from .conftest import PYTHON, REPO

SPECS = ["naive", "seasonal_naive(season_length=5)", "ar(order=3)",
         "mlp(lags=6,hidden_size=8,epochs=20,seed=3)", "lstm(lags=6,hidden_size=4,epochs=5)",
         "theta(season_length=5)"]


def series(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    timestamps = np.arange("2020-01-01", n, dtype="datetime64[D]").astype("datetime64[ns]")
    values = np.sin(np.arange(n) / 4.0) * 10 + rng.normal(0, 1, n) + 50
    return timestamps, values


def register(registry: ModelRegistry, spec_text: str, *, variable: str = "v1", seed: int = 0, **extra):
    spec = parse_model_specs([spec_text])[0]
    timestamps, values = series(seed=seed)
    model = spec.build().fit(values)
    entry = registry.register_model(
        model, spec, variable=variable, train_start=str(timestamps[0]), train_end=str(timestamps[-1]),
        data_fingerprint=data_fingerprint(timestamps, values), **extra)
    return entry, model, values


@pytest.mark.parametrize("spec_text", SPECS)
def test_a_registered_model_forecasts_exactly_as_the_fitted_one(tmp_path, spec_text):
    with ModelRegistry(tmp_path / "registry") as registry:
        entry, fitted, values = register(registry, spec_text, trust={"mean": 0.8, "low": 0.7, "high": 0.9},
                                         scores={"mase": 0.5}, tags=["nightly"])
        loaded = registry.load_model(entry.id)
    origins = np.arange(20, len(values))
    assert np.array_equal(loaded.predict(values, origins, 5), fitted.predict(values, origins, 5))
    assert entry.spec_id == parse_model_specs([spec_text])[0].id and entry.family == spec_text.split("(")[0]
    assert (entry.trust_mean, entry.trust_low, entry.trust_high) == (0.8, 0.7, 0.9)
    assert entry.scores == {"mase": 0.5} and entry.tags == ("nightly",) and entry.status == "active"
    artifact = tmp_path / "registry" / "artifacts" / entry.artifact
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == entry.sha256
    assert artifact.suffix == (".pt" if entry.family in ("mlp", "lstm") else ".npz")


def test_the_same_model_on_the_same_data_is_one_entry(tmp_path):
    with ModelRegistry(tmp_path / "registry") as registry:
        first, _, _ = register(registry, "ar(order=3)", tags=["a"])
        again, _, _ = register(registry, "ar(order=3)", tags=["b"], scores={"mase": 0.4})
        other_data, _, _ = register(registry, "ar(order=3)", seed=1)
        other_variable, _, _ = register(registry, "ar(order=3)", variable="v2")
        assert again.id == first.id and again.created == first.created
        assert again.tags == ("a", "b") and again.scores == {"mase": 0.4}  # refreshed, tags kept and added
        assert len({first.id, other_data.id, other_variable.id}) == 3
        assert len(registry.list_models()) == 3


def test_a_batch_registers_each_model_as_one_at_a_time_would(tmp_path):
    timestamps, values = series()
    fitted = [(spec, parse_model_specs([spec])[0].build().fit(values)) for spec in SPECS[:3]]
    batch = [Registration(encode_state(model.state(), needs_torch=False), spec, f"v{i}", str(timestamps[0]),
                          str(timestamps[-1]), data_fingerprint(timestamps, values), {"mean": 0.5, "low": 0.4,
                                                                                      "high": 0.6}, {"mase": i},
                          ("batch",))
             for i, (spec, model) in enumerate(fitted)]
    with ModelRegistry(tmp_path / "batch") as registry, ModelRegistry(tmp_path / "single") as single:
        entries = registry.register_many(batch)
        one_by_one = [single.register_model(model, spec, variable=f"v{i}", train_start=str(timestamps[0]),
                                            train_end=str(timestamps[-1]),
                                            data_fingerprint=data_fingerprint(timestamps, values),
                                            trust={"mean": 0.5, "low": 0.4, "high": 0.6}, scores={"mase": i},
                                            tags=["batch"])
                      for i, (spec, model) in enumerate(fitted)]
        assert [e.variable for e in entries] == ["v0", "v1", "v2"]  # in the order given
        assert [(e.id, e.sha256, e.scores, e.tags) for e in entries] == \
            [(e.id, e.sha256, e.scores, e.tags) for e in one_by_one]
        for entry, (_, model) in zip(entries, fitted, strict=True):
            assert np.array_equal(registry.load_model(entry.id).predict(values, np.array([100]), 3),
                                  model.predict(values, np.array([100]), 3))


def test_a_batch_whose_artifacts_cannot_be_written_adds_nothing(tmp_path):
    timestamps, values = series()
    model = parse_model_specs(["naive"])[0].build().fit(values)
    with ModelRegistry(tmp_path / "registry") as registry:
        (tmp_path / "registry" / "artifacts").write_text("a file where the artifact directory belongs")
        with pytest.raises(RegistryError, match=r"cannot write 2 model\(s\) to .*artifacts"):
            registry.register_many([Registration(encode_state(model.state(), needs_torch=False), "naive", v,
                                                 "a", "b", "f") for v in ("x", "y")])
        assert registry.list_models() == []


def test_filters_tags_status_and_delete(tmp_path):
    with ModelRegistry(tmp_path / "registry") as registry:
        ar1, _, _ = register(registry, "ar(order=3)", variable="v1", tags=["prod", "eu"])
        ar2, _, _ = register(registry, "ar(order=2)", variable="v2", tags=["prod"])
        naive, _, _ = register(registry, "naive", variable="v1")
        ids = lambda **filters: {m.id for m in registry.list_models(**filters)}  # noqa: E731
        assert ids(variable="v1") == {ar1.id, naive.id}
        assert ids(family="ar") == {ar1.id, ar2.id}
        assert ids(tags=["prod"]) == {ar1.id, ar2.id} and ids(tags=["prod", "eu"]) == {ar1.id}
        assert ids(variable="v1", family="ar", tags=["eu"]) == {ar1.id}
        deprecated = registry.update_model_metadata(ar2.id, status="deprecated", add_tags=["old"],
                                                    remove_tags=["prod"])
        assert deprecated.status == "deprecated" and deprecated.tags == ("old",)
        assert ids(status="active") == {ar1.id, naive.id} and ids(status="deprecated") == {ar2.id}
        assert len(registry.list_models(limit=2)) == 2 and len(registry.list_models(limit=2, offset=2)) == 1
        removed = registry.delete_model(ar1.id)
        assert removed.id == ar1.id and not (tmp_path / "registry" / "artifacts" / ar1.artifact).exists()
        assert ids() == {ar2.id, naive.id}
        with pytest.raises(UnknownModelError, match=ar1.id):
            registry.load_model(ar1.id)
        with pytest.raises(UnknownModelError):
            registry.update_model_metadata("nope", status="active")
        with pytest.raises(ConfigError, match="status 'retired'"):
            registry.update_model_metadata(naive.id, status="retired")
        with pytest.raises(ConfigError, match="tag"):
            registry.update_model_metadata(naive.id, add_tags=[" padded "])


@pytest.mark.parametrize("spec_text", ["ar(order=3)", "mlp(lags=6,hidden_size=8,epochs=5)"])
def test_a_changed_or_missing_artifact_is_refused_unread(tmp_path, spec_text):
    with ModelRegistry(tmp_path / "registry") as registry:
        entry, _, _ = register(registry, spec_text)
        artifact = tmp_path / "registry" / "artifacts" / entry.artifact
        data = bytearray(artifact.read_bytes())
        data[len(data) // 2] ^= 0xFF
        artifact.write_bytes(bytes(data))
        with pytest.raises(ArtifactIntegrityError, match="changed since it was registered") as caught:
            registry.load_model(entry.id)
        assert "\n" not in str(caught.value)
        artifact.unlink()
        with pytest.raises(ArtifactIntegrityError, match="cannot read"):
            registry.load_model(entry.id)


class _Payload:
    """What an attacker would put in a pickle: unpickling it creates a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("spec_text", ["ar(order=3)", "mlp(lags=6,hidden_size=8,epochs=5)"])
def test_a_pickle_with_a_matching_hash_never_runs(tmp_path, spec_text):
    """Even with the catalog's hash forged to match, loading a pickle payload fails without running it."""
    import pickle

    import torch

    with ModelRegistry(tmp_path / "registry") as registry:
        entry, _, _ = register(registry, spec_text)
    marker = tmp_path / "pwned"
    artifact = tmp_path / "registry" / "artifacts" / entry.artifact
    if artifact.suffix == ".pt":
        torch.save({"net.0.weight": _Payload(str(marker))}, artifact)
    else:
        np.save(open(artifact, "wb"), np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
        assert pickle.loads(pickle.dumps(_Payload(str(tmp_path / "probe")))) is not None  # the payload works
        (tmp_path / "probe").unlink()
    forged = hashlib.sha256(artifact.read_bytes()).hexdigest()
    with sqlite3.connect(tmp_path / "registry" / "catalog.sqlite") as db:
        db.execute("UPDATE models SET sha256 = ? WHERE id = ?", (forged, entry.id))
    with ModelRegistry(tmp_path / "registry") as registry, pytest.raises(ArtifactIntegrityError, match="unreadable"):
        registry.load_model(entry.id)
    assert not marker.exists()


def test_concurrent_writers_lose_nothing(tmp_path):
    """Threads here and another process register at once: every entry is there, each once."""
    code = f"""
import numpy as np
from recursive_training.registry import ModelRegistry, Registration, data_fingerprint, encode_state
from recursive_training.retrodiction import parse_model_specs
spec = parse_model_specs(["ar(order=2)"])[0]
values = np.sin(np.arange(80) / 3.0)
stamps = np.arange("2021-01-01", 80, dtype="datetime64[D]").astype("datetime64[ns]")
with ModelRegistry({str(tmp_path / "registry")!r}) as registry:
    for i in range(30):
        registry.register_model(spec.build().fit(values), spec, variable=f"p{{i}}", train_start="a", train_end="b",
                                data_fingerprint=data_fingerprint(stamps, values), tags=["other-process"])
"""
    other = subprocess.Popen([PYTHON, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True)
    errors: list[BaseException] = []

    def ten(registry: ModelRegistry, k: int) -> None:
        try:
            for i in range(10):
                register(registry, "ar(order=2)", variable=f"t{k}-{i}")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    with ModelRegistry(tmp_path / "registry") as registry:
        threads = [threading.Thread(target=ten, args=(registry, k)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert other.wait(120) == 0, other.stderr.read()
        assert not errors, errors
        models = registry.list_models()
    assert len(models) == 60 and len({m.id for m in models}) == 60
    assert sum(m.tags == ("other-process",) for m in models) == 30


def test_a_registry_that_is_not_there_is_one_line(tmp_path):
    with pytest.raises(RegistryError, match="no model registry at"):
        ModelRegistry(tmp_path / "absent", create=False)


def cli(*args, cwd):
    return subprocess.run([PYTHON, str(REPO / "run_training.py"), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_the_models_commands(tmp_path):
    with ModelRegistry(tmp_path / "runs" / "registry") as registry:
        ar, _, _ = register(registry, "ar(order=3)", variable="v1", trust={"mean": 0.9, "low": 0.8, "high": 0.95})
        naive, _, _ = register(registry, "naive", variable="v2", tags=["baseline"])
    where = ["--output-dir", tmp_path / "runs"]
    listed = cli("models", "list", *where, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "variable", "model", "trust", "interval", "trained", "to", "status", "tags"]
    assert lines[2].split()[:5] == [ar.id, "v1", "ar(order=3)", "0.900", "[0.800,"] and lines[-1] == "2 model(s)"
    only = cli("models", "list", *where, "--tag", "baseline", "--json", cwd=tmp_path)
    assert [json.loads(line)["id"] for line in only.stdout.splitlines()] == [naive.id]
    shown = json.loads(cli("models", "show", ar.id, *where, cwd=tmp_path).stdout)
    assert shown["spec"] == "ar(order=3)" and shown["sha256"] == ar.sha256 and shown["tags"] == []
    assert cli("models", "tag", ar.id, "prod", "eu", *where, cwd=tmp_path).stdout.strip() == f"{ar.id}: tags eu, prod"
    assert cli("models", "tag", ar.id, "eu", "--remove", *where, cwd=tmp_path).stdout.strip() == f"{ar.id}: tags prod"
    assert cli("models", "deprecate", ar.id, *where, cwd=tmp_path).stdout.strip() == f"{ar.id}: deprecated"
    assert cli("models", "deprecate", ar.id, "--undo", *where, cwd=tmp_path).stdout.strip() == f"{ar.id}: active"
    deleted = cli("models", "delete", naive.id, *where, cwd=tmp_path)
    assert deleted.stdout.strip() == f"deleted {naive.id} (v2, naive)"
    for args, message in ((("show", "feedbeef"), "no model 'feedbeef'"), (("delete", naive.id), naive.id),
                          (("tag", ar.id, " x"), "tag ' x'")):
        bad = cli("models", *args, *where, cwd=tmp_path)
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and message in bad.stderr, bad.stderr
    missing = cli("models", "list", "--output-dir", tmp_path / "nowhere", cwd=tmp_path)
    assert missing.returncode == 1 and "no model registry at" in missing.stderr and missing.stderr.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()  # listing creates nothing


def test_a_listing_piped_into_head_ends_quietly(tmp_path):
    """`models list | head`: the reader stops early; the command ends with 141 and no traceback."""
    import sqlite3

    from recursive_training.registry.catalog import COLUMNS

    ModelRegistry(tmp_path / "runs" / "registry").close()
    rows = [(f"{i:016x}", f"v{i}", "naive", "naive", "naive", "{}", "2020", "2021", "f", None, None, None, "{}",
             "active", "2026", "2026", f"{i:016x}.npz", "0") for i in range(5000)]  # far more than a pipe holds
    with sqlite3.connect(tmp_path / "runs" / "registry" / "catalog.sqlite") as db:
        db.executemany(f"INSERT INTO models VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    listing = subprocess.Popen([PYTHON, str(REPO / "run_training.py"), "models", "list", "--output-dir",
                                str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert listing.stdout.readline().startswith("id")
    listing.stdout.close()
    assert listing.wait(60) == 141 and listing.stderr.read() == ""
