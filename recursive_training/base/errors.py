"""One exception hierarchy for the whole product.

Every error a user can cause derives from :class:`RetrodictionError`, so the
command line can turn any of them into a one-line message and a non-zero exit
without ever showing a traceback.
"""

from __future__ import annotations

__all__ = [
    "RetrodictionError",
    "ConfigError",
    "DataError",
    "IngestError",
    "UnknownVariableError",
    "StoreCorruptError",
    "ModelError",
    "InsufficientDataError",
    "ClusterError",
    "BatchTimeoutError",
    "TrustError",
    "RegistryError",
    "UnknownModelError",
    "ArtifactIntegrityError",
    "UnknownRunError",
    "UnknownForecastError",
    "one_line",
]


class RetrodictionError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigError(RetrodictionError, ValueError):
    """An option or configuration file value is invalid."""


class DataError(RetrodictionError):
    """Data in a source file or in the store cannot be used."""


class IngestError(DataError):
    """A source file failed validation; nothing from it was written."""


class UnknownVariableError(DataError):
    """A variable was asked for that the store does not hold."""


class StoreCorruptError(DataError):
    """A file inside the store cannot be read back."""


class ModelError(RetrodictionError):
    """A model name or model parameter is invalid."""


class InsufficientDataError(ModelError):
    """Too few observations to fit a model or score a window."""


class ClusterError(RetrodictionError):
    """The Dask cluster could not be started or reached."""


class BatchTimeoutError(RetrodictionError):
    """A batch ran longer than ``batch_timeout_seconds``."""


class TrustError(RetrodictionError):
    """The trust database cannot be opened or updated."""


class RegistryError(RetrodictionError):
    """The model registry cannot be opened, read or changed as asked."""


class UnknownModelError(RegistryError):
    """A model id was asked for that the registry does not hold."""


class ArtifactIntegrityError(RegistryError):
    """A registered model's file is missing, changed since it was registered, or unreadable: never loaded."""


class UnknownRunError(DataError):
    """A run id was asked for that the output directory does not hold."""


class UnknownForecastError(DataError):
    """A forecast job id was asked for that the output directory does not hold."""


def one_line(exc: BaseException) -> str:
    """An exception as one line, its type first: how failures are recorded and shown."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
