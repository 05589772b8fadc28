"""Telling a URL (s3://bucket/prefix) from a local path: light, for the command line's early parsing."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["is_url", "store_root"]


def is_url(value: object) -> bool:
    """A store given as ``scheme://...`` rather than a local path."""
    return isinstance(value, str) and "://" in value


def store_root(value: "str | os.PathLike[str]") -> "str | Path":
    """A store as the user named it: a URL stays a string (never a local Path), anything else is a Path."""
    return value if is_url(value) else Path(value)
