"""Small checks shared by every typed configuration dataclass.

Each raises :class:`ConfigError` with a message that names the option, so a
user sees exactly which value to fix.
"""

from __future__ import annotations

import math

from .errors import ConfigError

__all__ = ["is_plain_name", "require_int", "require_float", "resource_amounts"]


def is_plain_name(text: str) -> bool:
    """Whether ``text`` can name a directory inside another and nothing else: no separator, no leading dot
    (so neither '..' nor a hidden file), no NUL. Run ids are such names, whoever reads them."""
    return bool(text) and not any(c in text for c in "/\\\x00") and not text.startswith(".")


def resource_amounts(name: str, value: object) -> dict[str, float]:
    """Dask worker resources (``GPU=1,MEMORY=4e9``, or a mapping) as names and positive amounts."""
    if isinstance(value, str):
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        if any(not sep or not key.strip() for key, sep, _ in pairs):
            raise ConfigError(f"option '{name}' must be NAME=AMOUNT pairs such as GPU=1,MEMORY=4e9, got {value!r}")
        try:
            value = {key.strip(): float(amount) for key, _, amount in pairs}
        except ValueError:
            raise ConfigError(f"option '{name}': every amount must be a number, got {value!r}") from None
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigError(f"option '{name}' must be NAME=AMOUNT pairs or a table, got {value!r}")
    return {key: require_float(f"{name}.{key}", amount, minimum=0.0, inclusive=False) for key, amount in value.items()}


def require_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as an int no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"option '{name}' must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"option '{name}' must be at least {minimum}, got {value}")
    return value


def require_float(
    name: str, value: object, *, minimum: float, inclusive: bool = True
) -> float:
    """Return ``value`` as a finite float above (or at) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"option '{name}' must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"option '{name}' must be finite, got {value}")
    if value < minimum or (not inclusive and value == minimum):
        relation = "at least" if inclusive else "greater than"
        raise ConfigError(f"option '{name}' must be {relation} {minimum}, got {value}")
    return value
