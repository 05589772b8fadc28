"""Experiment names that read as what they are and give their parameters back (the original ExperimentNaming).

``mlp-h64-lr0.01-3fa2c1``: the run options a grid point sets, then each
model family it sets followed by that family's parameters, each as a short
name glued to its value, then six hex digits of a hash of all the
parameters, so two points never share a name even where the short forms
hide a difference. A ``-`` inside a value is written ``~``, because ``-``
separates the parts.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping

from ..base import ConfigError

__all__ = ["check_nameable", "experiment_name", "parse_experiment_name", "parameter_hash"]

SHORT_NAMES = {  # parameter (or run option) -> its short form in names; the rest keep their full name
    "hidden_size": "h", "learning_rate": "lr", "epochs": "e", "lags": "l", "seed": "s", "order": "o",
    "season_length": "m", "lookback": "lb", "horizon": "hz", "batch_size_days": "bs", "refit_every": "re",
}
_LONG_NAMES = {short: name for name, short in SHORT_NAMES.items()}
_PLAIN_TEXT = re.compile(r"^[A-Za-z0-9._:+-]+$")
_HASH = re.compile(r"^[0-9a-f]{6}$")


def parameter_hash(params: Mapping[str, Any]) -> str:
    """Six hex digits of the parameters' canonical JSON: the same point, the same hash, anywhere."""
    return hashlib.sha256(json.dumps(dict(params), sort_keys=True).encode()).hexdigest()[:6]


def experiment_name(params: Mapping[str, Any]) -> str:
    """The name of the grid point ``params`` ({"mlp.hidden_size": 64, "lookback": "2Y", ...})."""
    run_level = sorted((k, v) for k, v in params.items() if "." not in k)
    by_family: dict[str, list[tuple[str, Any]]] = {}
    for key, value in sorted(params.items()):
        if "." in key:
            family, name = key.split(".", 1)
            by_family.setdefault(family, []).append((name, value))
    parts = [_part(name, value) for name, value in run_level]
    for family, items in sorted(by_family.items()):
        parts.append(family)
        parts.extend(_part(name, value) for name, value in items)
    return "-".join([*parts, parameter_hash(params)]) if parts else f"base-{parameter_hash(params)}"


def parse_experiment_name(name: str, families: tuple[str, ...] | None = None,
                          known: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The parameters ``name`` was made from; a name whose hash does not match them is an error.

    ``families`` are the model family names and ``known`` the parameter and
    option names that may appear in full (both default to this tool's).
    """
    families = families if families is not None else _families()
    known = known if known is not None else _known_names()
    *parts, digest = name.split("-")
    if not _HASH.match(digest):
        raise ConfigError(f"experiment name {name!r}: it does not end in a six-digit hex hash")
    if parts == ["base"]:
        parts = []
    names = sorted({*known, *_LONG_NAMES}, key=len, reverse=True)  # the longest matching prefix wins
    params: dict[str, Any] = {}
    family = None
    for part in parts:
        if part in families:
            family = part
            continue
        prefix = next((n for n in names if part.startswith(n) and len(part) > len(n)), None)
        if prefix is None:
            raise ConfigError(f"experiment name {name!r}: cannot read {part!r} as a parameter and its value")
        key = _LONG_NAMES.get(prefix, prefix)
        params[f"{family}.{key}" if family else key] = _decode(part[len(prefix):])
    if parameter_hash(params) != digest:
        raise ConfigError(f"experiment name {name!r}: its hash does not match the parameters it names")
    return params


def check_nameable(key: str, value: Any) -> None:
    """A grid value must survive a trip through a name unchanged (and make a valid directory name)."""
    if isinstance(value, str) and not _PLAIN_TEXT.match(value):
        raise ConfigError(f"grid value {value!r} of {key!r}: use letters, digits and . _ : + - only")
    if not isinstance(value, (bool, int, float, str)):
        raise ConfigError(f"grid value {value!r} of {key!r}: use numbers, true/false or short text")
    back = _decode(_encode(value))
    if type(back) is not type(value) or back != value:
        raise ConfigError(f"grid value {value!r} of {key!r} would read back as {back!r}; "
                          "write numbers as numbers and text that does not look like one")


def _part(name: str, value: Any) -> str:
    return f"{SHORT_NAMES.get(name, name)}{_encode(value)}"


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return text.replace("-", "~")


def _decode(text: str) -> Any:
    text = text.replace("~", "-")
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text) if any(c.isdigit() for c in text) and text.lower() not in ("inf", "nan") else text
    except ValueError:
        return text


def _families() -> tuple[str, ...]:
    from ..retrodiction.specs import MODEL_FAMILIES

    return tuple(MODEL_FAMILIES)


def _known_names() -> tuple[str, ...]:
    import dataclasses

    from ..config import TrainingConfig
    from ..retrodiction.settings import RetrodictionSettings
    from ..retrodiction.specs import MODEL_FAMILIES

    parameters = {f.name for family in MODEL_FAMILIES.values() for f in dataclasses.fields(family.parameters)}
    options = {f.name for f in dataclasses.fields(TrainingConfig)} | set(RetrodictionSettings.field_names())
    return tuple(sorted(parameters | options))
