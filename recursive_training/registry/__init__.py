"""The model registry: fitted models, their files and a searchable catalog (see model_registry.py)."""

from .artifacts import encode_state
from .catalog import STATUSES, RegisteredModel
from .model_registry import ModelRegistry, Registration, data_fingerprint, model_id

__all__ = ["ModelRegistry", "RegisteredModel", "Registration", "STATUSES", "data_fingerprint", "encode_state",
           "model_id"]
