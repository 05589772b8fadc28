"""The model registry: fitted models, their files and a searchable catalog (see model_registry.py)."""

from .catalog import STATUSES, RegisteredModel
from .model_registry import ModelRegistry, data_fingerprint, model_id

__all__ = ["ModelRegistry", "RegisteredModel", "STATUSES", "data_fingerprint", "model_id"]
