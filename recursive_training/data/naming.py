"""Variable names become directory names, so they are checked and encoded.

A name is refused if it could address anything but its own directory under
the store root; accepted names are percent-encoded behind a fixed prefix, so
even a name like ``..`` maps to a harmless directory (``variable=..``).
"""

from __future__ import annotations

from urllib.parse import quote

from ..base import DataError

__all__ = ["check_variable_name", "variable_directory"]

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


def variable_directory(name: str) -> str:
    """The partition directory name of a (checked) variable, hive style."""
    return "variable=" + quote(check_variable_name(name), safe="")
