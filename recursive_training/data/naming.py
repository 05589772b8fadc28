"""Variable names are checked once, when they enter a store.

A name is refused if, used as a path (stores written before bucket files
kept a directory per variable), it could address anything but itself: no
separators, no leading dot, no control characters, no surrounding spaces.
"""

from __future__ import annotations

from ..base import DataError

__all__ = ["check_variable_name"]

MAX_NAME_LENGTH = 200


def check_variable_name(name: object) -> str:
    """Return ``name`` if it is a safe variable name, else raise DataError."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"variable name {name!r} is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise DataError(f"variable name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name or name.startswith("."):
        raise DataError(
            f"variable name {name!r} is not allowed: it may not contain '/' or '\\' or start with '.'"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or name != name.strip():
        raise DataError(f"variable name {name!r} has control characters or surrounding spaces")
    return name
