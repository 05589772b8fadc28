"""The alert rules of a run: the config file's ``[alerts]`` table, typed and checked before any work.

Light (no Dask, no pandas), like the rest of what the command line reads
first. What the rules watch, and how a firing alert is told, is alerts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from .base import ConfigError, require_float

__all__ = ["AlertRules", "TrustWatch"]


@dataclass(frozen=True)
class TrustWatch:
    """Alert when the trust (posterior mean) of ``model`` for ``variable`` falls below ``below``."""

    variable: str
    model: str
    below: float

    def __post_init__(self) -> None:
        for name in ("variable", "model"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"option 'alerts.trust': each watch needs a {name} name")
        require_float("alerts.trust.below", self.below, minimum=0.0)
        if self.below > 1:
            raise ConfigError(f"option 'alerts.trust.below' is a trust between 0 and 1, got {self.below}")


@dataclass(frozen=True)
class AlertRules:
    """Each rule left out never fires; ``webhook`` receives one JSON POST per firing alert.

    ``failure_rate``: the share of finished batches that failed rises above it
    (judged from 5 finished batches on); ``worker_lost``: a worker leaves the
    cluster unexpectedly or with batches on it; ``slow_batch_factor``: a
    batch takes longer than this multiple of the median batch so far (from 5
    batches on); ``worker_memory_fraction``: a worker uses more than this
    share of its memory limit; ``trust``: watched (variable, model) pairs.
    """

    webhook: str | None = None
    failure_rate: float | None = None
    worker_lost: bool = False
    slow_batch_factor: float | None = None
    worker_memory_fraction: float | None = None
    trust: tuple[TrustWatch, ...] = ()

    def __post_init__(self) -> None:
        if self.webhook is not None and (not isinstance(self.webhook, str)
                                         or not self.webhook.startswith(("http://", "https://"))):
            raise ConfigError(f"option 'alerts.webhook' must be an http:// or https:// URL, got {self.webhook!r}")
        for name, low, high in (("failure_rate", 0.0, 1.0), ("worker_memory_fraction", 0.0, 1.0)):
            value = getattr(self, name)
            if value is not None and require_float(f"alerts.{name}", value, minimum=low, inclusive=False) > high:
                raise ConfigError(f"option 'alerts.{name}' is a share between 0 and 1, got {value}")
        if self.slow_batch_factor is not None:
            require_float("alerts.slow_batch_factor", self.slow_batch_factor, minimum=1.0, inclusive=False)
        if not isinstance(self.worker_lost, bool):
            raise ConfigError(f"option 'alerts.worker_lost' must be true or false, got {self.worker_lost!r}")
        watches = self.trust
        if not isinstance(watches, (list, tuple)):
            raise ConfigError("option 'alerts.trust' must be a list of {variable, model, below} tables")
        object.__setattr__(self, "trust", tuple(
            watch if isinstance(watch, TrustWatch) else TrustWatch(**_table("alerts.trust", watch, TrustWatch))
            for watch in watches))

    @property
    def any(self) -> bool:
        """Whether any rule is set: without one, nothing is watched."""
        return any((self.failure_rate, self.worker_lost, self.slow_batch_factor, self.worker_memory_fraction,
                    self.trust))

    @classmethod
    def from_value(cls, value: Any) -> "AlertRules":
        return value if isinstance(value, AlertRules) else cls(**_table("alerts", value, cls))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) if f.name != "trust" else [vars(w) for w in self.trust]
                for f in fields(self)}


def _table(name: str, value: Any, shape: type) -> dict[str, Any]:
    """A config table's keys checked against ``shape``'s fields (``-`` may stand for ``_``)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"option '{name}' must be a table, got {value!r}")
    known = {f.name for f in fields(shape)}
    table = {str(key).replace("-", "_"): item for key, item in value.items()}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"option '{name}': unknown {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return table
