"""The model registry: fitted models kept for forecasting, found by what they are.

A model's id is a hash of what it is (variable, spec, training span and
the fingerprint of the data it was fitted on), never of when or where it
was fitted, so registering a refit of the same model on the same data
refreshes one entry instead of adding a second.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..base import ConfigError, ModelError, RegistryError, UnknownModelError, one_line
from ..retrodiction.models import ForecastModel
from ..retrodiction.specs import ModelSpec, parse_model_specs
from .artifacts import artifact_suffix, encode_state, read_artifact, write_artifacts
from .catalog import STATUSES, Catalog, RegisteredModel

__all__ = ["ModelRegistry", "Registration", "data_fingerprint", "model_id"]

CATALOG_NAME = "catalog.sqlite"
ARTIFACT_DIR = "artifacts"
_QUERY_IDS = 500  # ids per catalog query, well inside SQLite's limit on bound parameters


def data_fingerprint(timestamps: np.ndarray, values: np.ndarray) -> str:
    """A hash of the training data itself: equal data, equal fingerprint, wherever it was read."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(timestamps, dtype="datetime64[ns]").view("int64").tobytes())
    digest.update(np.ascontiguousarray(values, dtype="float64").tobytes())
    return digest.hexdigest()[:32]


def model_id(variable: str, spec: ModelSpec, train_start: str, train_end: str, fingerprint: str) -> str:
    identity = json.dumps([variable, spec.id, train_start, train_end, fingerprint])
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Registration:
    """One fitted model to keep, its state already encoded where it was fitted (``encode_state``), so the
    process that writes the registry never has to import torch to take an MLP apart."""

    encoded: bytes
    spec: ModelSpec | str
    variable: str
    train_start: str
    train_end: str
    data_fingerprint: str
    trust: Any = None  # a TrustEstimate, or anything with mean, low and high
    scores: Mapping[str, float] | None = None
    tags: Iterable[str] = ()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ModelRegistry:
    """A directory: ``catalog.sqlite`` and one artifact per fitted model under ``artifacts/``."""

    def __init__(self, root: str | Path, *, create: bool = True) -> None:
        self.root = Path(root)
        if not create and not (self.root / CATALOG_NAME).is_file():
            raise RegistryError(f"no model registry at {self.root} (nothing has been registered there)")
        self._catalog = Catalog(self.root / CATALOG_NAME)

    def close(self) -> None:
        self._catalog.close()

    def __enter__(self) -> "ModelRegistry":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def register_model(self, model: ForecastModel, spec: ModelSpec | str, *, variable: str, train_start: str,
                       train_end: str, data_fingerprint: str, trust: Any = None,
                       scores: Mapping[str, float] | None = None, tags: Iterable[str] = ()) -> RegisteredModel:
        """Keep ``model`` (fitted as ``spec`` on ``variable`` from ``train_start`` to ``train_end``).

        ``trust`` is the spec's trust then (a TrustEstimate or anything with
        ``mean``, ``low`` and ``high``); ``scores`` its retrodiction scores.
        """
        spec = spec if isinstance(spec, ModelSpec) else _parse_spec(spec)
        return self.register_many([Registration(
            encode_state(model.state(), needs_torch=spec.entry.needs_torch), spec, variable, train_start, train_end,
            data_fingerprint, trust, scores, tuple(tags))])[0]

    def register_many(self, registrations: Sequence[Registration]) -> list[RegisteredModel]:
        """Keep every model of ``registrations``, in their order: all artifacts are written before the
        catalog names any of them (so it never points to a file that is not there), and the catalog
        changes in one transaction."""
        now = _now()
        rows: list[tuple[dict[str, Any], tuple[str, ...]]] = []
        files: dict[str, bytes] = {}
        for registration in registrations:
            spec = registration.spec if isinstance(registration.spec, ModelSpec) else _parse_spec(registration.spec)
            entry_id = model_id(registration.variable, spec, registration.train_start, registration.train_end,
                                registration.data_fingerprint)
            artifact = f"{entry_id}{artifact_suffix(spec.entry.needs_torch)}"
            files[artifact] = registration.encoded
            trust = registration.trust
            rows.append(({
                "id": entry_id, "variable": registration.variable, "spec_id": spec.id, "spec": spec.explicit,
                "family": spec.family, "parameters": _parameters(spec), "train_start": registration.train_start,
                "train_end": registration.train_end, "data_fingerprint": registration.data_fingerprint,
                "trust_mean": _trust(trust, "mean"), "trust_low": _trust(trust, "low"),
                "trust_high": _trust(trust, "high"),
                "scores": {k: float(v) for k, v in (registration.scores or {}).items()},
                "status": "active", "created": now, "updated": now, "artifact": artifact,
            }, _check_tags(registration.tags)))
        try:
            hashes = write_artifacts(self.root / ARTIFACT_DIR, files)
        except OSError as exc:
            raise RegistryError(f"cannot write {len(files)} model(s) to {self.root / ARTIFACT_DIR}: "
                                f"{exc.strerror or exc}") from None
        for row, _ in rows:
            row["sha256"] = hashes[row["artifact"]]
        self._catalog.upsert(rows)
        ids = [row["id"] for row, _ in rows]
        found = {entry.id: entry for at in range(0, len(ids), _QUERY_IDS)
                 for entry in self._catalog.query(ids=ids[at:at + _QUERY_IDS])}
        return [found[entry_id] for entry_id in ids]

    def get_model(self, model_id: str) -> RegisteredModel:
        entry = self._catalog.get(model_id)
        if entry is None:
            raise UnknownModelError(f"no model {model_id!r} in the registry at {self.root}")
        return entry

    def load_model(self, model_id: str) -> ForecastModel:
        """The fitted model, rebuilt from its spec and its artifact; a changed artifact is refused unread."""
        entry = self.get_model(model_id)
        spec = _parse_spec(entry.spec)
        state = read_artifact(self.root / ARTIFACT_DIR / entry.artifact, entry.sha256,
                              needs_torch=spec.entry.needs_torch, model_id=model_id)
        try:
            return spec.build().with_state(state)
        except ModelError as exc:
            raise RegistryError(f"model {model_id}: {one_line(exc)}") from None

    def update_model_metadata(self, model_id: str, *, status: str | None = None, add_tags: Iterable[str] = (),
                              remove_tags: Iterable[str] = ()) -> RegisteredModel:
        """Change a model's status (active or deprecated) and tags; its fitted state never changes."""
        if status is not None and status not in STATUSES:
            raise ConfigError(f"status {status!r}: choose from {', '.join(STATUSES)}")
        if not self._catalog.update(model_id, status=status, add_tags=_check_tags(add_tags),
                                    remove_tags=tuple(remove_tags), updated=_now()):
            raise UnknownModelError(f"no model {model_id!r} in the registry at {self.root}")
        return self.get_model(model_id)

    def list_models(self, *, variable: str | None = None, family: str | None = None, tags: Sequence[str] = (),
                    status: str | None = None, limit: int | None = None, offset: int = 0) -> list[RegisteredModel]:
        """Models matching every filter given (all of ``tags``), by variable, newest first."""
        if status is not None and status not in STATUSES:
            raise ConfigError(f"status {status!r}: choose from {', '.join(STATUSES)}")
        if limit is not None and limit < 0 or offset < 0:
            raise ConfigError("limit and offset must not be negative")
        return self._catalog.query(variable=variable, family=family, tags=tuple(tags), status=status,
                                   limit=limit, offset=offset)

    def delete_model(self, model_id: str) -> RegisteredModel:
        """Remove a model from the catalog, then its artifact; what it was."""
        entry = self.get_model(model_id)
        artifact = self._catalog.delete(model_id)
        if artifact is not None:
            (self.root / ARTIFACT_DIR / artifact).unlink(missing_ok=True)
        return entry


@functools.lru_cache(maxsize=1024)
def _parse_spec(text: str) -> ModelSpec:
    """A registered spec's text parsed once: a forecast registers a thousand models of a few specs."""
    try:
        return parse_model_specs([text])[0]
    except ConfigError as exc:
        raise RegistryError(f"model spec {text!r}: {one_line(exc)}") from None


def _parameters(spec: ModelSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec.parameters)


def _trust(trust: Any, name: str) -> float | None:
    if trust is None:
        return None
    value = trust.get(name) if isinstance(trust, Mapping) else getattr(trust, name)
    return None if value is None else float(value)


def _check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(tags))
    for tag in checked:
        if not isinstance(tag, str) or not tag.strip() or tag != tag.strip() or "\x1f" in tag or len(tag) > 100:
            raise ConfigError(f"tag {tag!r}: a tag is a non-empty name of at most 100 characters, "
                              "without surrounding spaces")
    return checked
