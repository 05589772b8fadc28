"""A fitted model's state on disk: one file per model, written atomically, checked by its hash on load.

numpy states are ``.npz`` files read with ``allow_pickle=False``; torch
states are state dicts of tensors read with ``torch.load(weights_only=True)``.
Neither format can run code when loaded, and a file whose bytes differ from
the hash recorded at registration is refused before it is parsed.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Mapping

import numpy as np

from ..base import ArtifactIntegrityError, atomic_write_files, one_line

__all__ = ["artifact_suffix", "encode_state", "read_artifact", "write_artifacts"]


def artifact_suffix(needs_torch: bool) -> str:
    return ".pt" if needs_torch else ".npz"


def encode_state(state: Mapping[str, np.ndarray], *, needs_torch: bool) -> bytes:
    """A model's state as an artifact's bytes; made where the model was fitted (a worker), so the process
    that writes the registry never needs torch."""
    buffer = io.BytesIO()
    if needs_torch:
        import torch

        torch.save({name: torch.as_tensor(np.array(value, order="C")) for name, value in state.items()}, buffer)
    else:
        np.savez(buffer, **{name: np.asarray(value) for name, value in state.items()})
    return buffer.getvalue()


def write_artifacts(directory: Path, files: Mapping[str, bytes]) -> dict[str, str]:
    """Write encoded states to ``directory`` (each atomically, one directory sync); return each file's
    sha256 by name."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_files({directory / name: data for name, data in files.items()})
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def read_artifact(path: Path, sha256: str, *, needs_torch: bool, model_id: str) -> dict[str, np.ndarray]:
    """The state in ``path``, if its bytes still have the recorded hash; else ArtifactIntegrityError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactIntegrityError(f"model {model_id}: cannot read its file {path}: {exc.strerror or exc}") from None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise ArtifactIntegrityError(f"model {model_id}: its file {path} changed since it was registered "
                                     f"(sha256 {found[:12]}…, registered {sha256[:12]}…); refusing to load it")
    try:
        if needs_torch:
            import torch

            loaded = torch.load(io.BytesIO(data), weights_only=True)
            if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
                raise ValueError("not a state dict of tensors")
            return {str(name): tensor.numpy() for name, tensor in loaded.items()}
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as exc:  # a file with the right hash that does not parse: written by something else
        raise ArtifactIntegrityError(f"model {model_id}: its file {path} is unreadable: {one_line(exc)}") from None
