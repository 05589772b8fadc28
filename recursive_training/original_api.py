"""The original tool's documented API, translated to today's typed configuration.

The original ``ParallelTrainingCoordinator`` took a nested dict
(``{"data_store_config": {"base_path": ...}, "async_metrics_config": ...}``)
and called its progress callback with one dict. Both still work: sections
this tool has no use for are named in a one-line warning, never an error,
and the store may come from ``RECURSIVE_TRAINING_STORE``.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from typing import Any, Callable, Mapping

from .base import ConfigError

__all__ = ["STORE_ENVIRONMENT_VARIABLE", "options_from_original_config", "progress_reporter"]

logger = logging.getLogger(__name__)

STORE_ENVIRONMENT_VARIABLE = "RECURSIVE_TRAINING_STORE"

# what each known section of the original config means here
_STORE_SECTION = "data_store_config"
_STORE_KINDS = {"base": "base", "optimized": "optimized", "streaming": "streaming"}


def options_from_original_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flat TrainingConfig options from the original nested config (flat keys pass through).

    The store is ``data_store_config.base_path``, else a flat ``store_path``,
    else the environment variable ``RECURSIVE_TRAINING_STORE``.
    """
    options: dict[str, Any] = {}
    ignored = []
    for key, value in (config or {}).items():
        if key == _STORE_SECTION:
            if not isinstance(value, Mapping):
                raise ConfigError(f"config section {_STORE_SECTION!r} must be a mapping with 'base_path'")
            if "base_path" in value:
                options["store_path"] = value["base_path"]
            kind = value.get("store_type", value.get("kind"))
            if kind is not None:
                if kind not in _STORE_KINDS:
                    raise ConfigError(f"config {_STORE_SECTION}: unknown store type {kind!r}; "
                                      f"choose from {', '.join(_STORE_KINDS)}")
                options["store_kind"] = _STORE_KINDS[kind]
        elif isinstance(value, Mapping) and key.endswith("_config"):
            ignored.append(key)
        else:
            options[key] = value
    if ignored:  # one line on stderr, also where logging is not set up
        logger.warning("warning: ignoring config section(s) %s: this tool streams metrics to "
                       "OUTPUT_DIR/metrics.sqlite and keeps trust in OUTPUT_DIR/trust.sqlite", ", ".join(ignored))
    if "store_path" not in options:
        from_environment = os.environ.get(STORE_ENVIRONMENT_VARIABLE)
        if not from_environment:
            raise ConfigError(f"no data store: give config {{'{_STORE_SECTION}': {{'base_path': DIR}}}}, "
                              f"store_path, or the environment variable {STORE_ENVIRONMENT_VARIABLE}")
        options["store_path"] = from_environment
    return options


def _takes_one_argument(callback: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    return len(positional) == 1 and not varargs


def progress_reporter(callback: Callable[..., Any] | None,
                      failed_count: Callable[[], int]) -> Callable[[int, int, Any], None]:
    """Today's ``(done, total, batch)`` callback; a one-argument callback gets the original's dict.

    The dict holds ``completed``, ``total``, ``failed``, ``completed_percentage``,
    ``batch_id`` (None at the start), ``elapsed_seconds`` and ``eta_seconds``
    (None until a batch has finished in this run).
    """
    if callback is None:
        return lambda done, total, batch: None
    if not _takes_one_argument(callback):
        return callback
    started = time.monotonic()
    first_done: list[int] = []

    def report(done: int, total: int, batch: Any) -> None:
        elapsed = time.monotonic() - started
        if not first_done:
            first_done.append(done)  # batches read back from a journal cost no time now
        finished_here = done - first_done[0]
        eta = elapsed / finished_here * (total - done) if finished_here > 0 else None
        callback({
            "completed": done, "total": total, "failed": failed_count(),
            "completed_percentage": 100.0 * done / total if total else 100.0,
            "batch_id": None if batch is None else batch.batch_id,
            "elapsed_seconds": elapsed, "eta_seconds": eta,
        })

    return report
