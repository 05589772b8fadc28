"""Which model forecasts a variable: the one retrodiction trusts most, by a documented rule.

Candidates are the trust keys of the variable whose kept forecast errors
reach the forecast's horizon and that hold at least ``min_origins`` origins
of evidence. ``trust-low`` (the default) takes the highest lower bound of
the 95% trust interval: a model is chosen for what the evidence guarantees,
not for a lucky mean on little data. ``trust-mean`` takes the highest mean,
``mase`` the lowest MASE. Ties go to the lower MASE (then the higher lower
bound, then the spec's name, so the choice is deterministic).

A model's MASE needs the series (its naive scale), which only the process
that forecasts reads; the trust rules are decided by the trust first, so
:func:`contenders` narrows a variable's candidates to those that can still
win before their kept errors are read and sent there.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np

from analytics import TrustEstimate, TrustKey

from .rules import SELECTION_RULES

__all__ = ["Choice", "KeptErrors", "SELECTION_RULES", "choose_model", "contenders"]


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


# the rules that rank by trust before MASE, and the trust each ranks by first
_TRUST_FIRST: dict[str, Callable[[TrustEstimate], float]] = {"trust-low": lambda e: e.low,
                                                               "trust-mean": lambda e: e.mean}


def _scored_points(estimate: TrustEstimate, errors: KeptErrors, horizon: int, min_origins: int) -> np.ndarray | None:
    """The kept errors a candidate's MASE is taken over, or None if it cannot forecast ``horizon`` steps."""
    if errors.errors.shape[1] < horizon or estimate.origins < min_origins:
        return None
    points = errors.errors[:, :horizon]
    points = points[np.isfinite(points)]  # every point of each step: within a step no pair repeats
    return points if len(points) else None


def contenders(estimates: Iterable[TrustEstimate], errors_of: Callable[[TrustKey], KeptErrors], *, horizon: int,
               rule: str = "trust-low", min_origins: int = 20) -> list[tuple[TrustEstimate, KeptErrors]]:
    """The candidates of one variable that :func:`choose_model` can still choose, with their kept errors.

    Under a trust rule those are the usable candidates of the best trust
    (MASE only breaks their ties), and the errors of the others are never
    read: forecasting 1,000 variables with two models each sent half as much
    to its workers. Under ``mase`` every usable candidate contends.
    """
    ranked = _TRUST_FIRST.get(rule)
    if ranked is None:
        tiers: Iterable[Iterable[TrustEstimate]] = [list(estimates)]
    else:
        ordered = sorted(estimates, key=ranked, reverse=True)
        tiers = (tier for _, tier in itertools.groupby(ordered, key=ranked))
    for tier in tiers:
        usable = [(estimate, errors) for estimate in tier
                  for errors in [errors_of(estimate.key)]
                  if _scored_points(estimate, errors, horizon, min_origins) is not None]
        if usable:
            return usable
    return []


def choose_model(variable: str, estimates: Iterable[TrustEstimate],
                 errors_of: Callable[[TrustKey], KeptErrors], *, horizon: int, naive_mae: float,
                 rule: str = "trust-low", spec: str | None = None, min_origins: int = 20) -> Choice | str:
    """The chosen model of ``variable``, or why there is none (one line)."""
    candidates = []
    for estimate in estimates:
        if estimate.variable != variable or (spec is not None and estimate.spec != spec):
            continue
        errors = errors_of(estimate.key)
        points = _scored_points(estimate, errors, horizon, min_origins)
        if points is None:
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
