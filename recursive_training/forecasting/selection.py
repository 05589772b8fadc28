"""Which model forecasts a variable: the one retrodiction trusts most, by a documented rule.

Candidates are the trust keys of the variable whose kept forecast errors
reach the forecast's horizon and that hold at least ``min_origins`` origins
of evidence. ``trust-low`` (the default) takes the highest lower bound of
the 95% trust interval: a model is chosen for what the evidence guarantees,
not for a lucky mean on little data. ``trust-mean`` takes the highest mean,
``mase`` the lowest MASE. Ties go to the lower MASE (then the higher lower
bound, then the spec's name, so the choice is deterministic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np

from analytics import TrustEstimate, TrustKey

from .rules import SELECTION_RULES

__all__ = ["Choice", "KeptErrors", "SELECTION_RULES", "choose_model"]


class KeptErrors(Protocol):
    """What choosing a model and calibrating its intervals read of a key's kept errors (a tracker's
    ``ForecastErrors``, or the slimmer copy forecasting sends to its workers)."""

    @property
    def origins(self) -> np.ndarray: ...  # (n,) int64 ns since 1970, oldest first

    @property
    def errors(self) -> np.ndarray: ...  # (n, steps) forecast minus actual, NaN where none was kept


@dataclass(frozen=True, eq=False)
class Choice:
    """The chosen key of one variable, its trust, its MASE on the kept errors, and those errors."""

    key: TrustKey
    estimate: TrustEstimate
    mase: float
    errors: KeptErrors


def choose_model(variable: str, estimates: Iterable[TrustEstimate],
                 errors_of: Callable[[TrustKey], KeptErrors], *, horizon: int, naive_mae: float,
                 rule: str = "trust-low", spec: str | None = None, min_origins: int = 20) -> Choice | str:
    """The chosen model of ``variable``, or why there is none (one line)."""
    candidates = []
    for estimate in estimates:
        if estimate.variable != variable or (spec is not None and estimate.spec != spec):
            continue
        errors = errors_of(estimate.key)
        usable = errors.errors.shape[1] >= horizon and estimate.origins >= min_origins
        if not usable:
            continue
        points = errors.errors[:, :horizon]
        points = points[np.isfinite(points)]  # every point of each step: within a step no pair repeats
        if len(points) == 0:
            continue
        mase = float(np.mean(np.abs(points)) / naive_mae) if naive_mae > 0 else math.inf
        candidates.append(Choice(estimate.key, estimate, mase, errors))
    if not candidates:
        which = f"model {spec}" if spec else "model"
        return (f"no {which} of {variable} has trust evidence with kept forecast errors for horizon {horizon} "
                f"from at least {min_origins} origins; run a retrodiction with --horizon {horizon} or more first")
    order = {
        "trust-low": lambda c: (-c.estimate.low, c.mase, c.key.spec),
        "trust-mean": lambda c: (-c.estimate.mean, c.mase, -c.estimate.low, c.key.spec),
        "mase": lambda c: (c.mase, -c.estimate.low, c.key.spec),
    }[rule]
    return min(candidates, key=order)
