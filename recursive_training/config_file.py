"""Reading a run's options as users give them: a TOML or YAML file, names listed on the command line.

Apart from config.py (which needs pandas) because the command line reads
its options before anything heavy is imported (see fork_server.py).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Sequence

import yaml

from .base import ConfigError

__all__ = ["load_config_file", "read_mapping_file", "split_names"]


TABLES = ("model", "cluster", "storage_options", "resources", "alerts")  # the options a config file may nest


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) file holding one flat mapping.

    Only the tables in ``TABLES`` may nest (``[model.LABEL]``, ``[cluster]``...).
    """
    path = Path(path)
    data = read_mapping_file(path, what="config file")
    nested = [k for k, v in data.items() if isinstance(v, dict) and k not in TABLES]
    if nested:
        raise ConfigError(f"config file {path}: option {nested[0]!r} is a table; keep options flat")
    return data


def read_mapping_file(path: Path, *, what: str) -> dict[str, Any]:
    """A TOML or YAML file's mapping, or one line saying why there is none (``what`` names the file)."""
    if not path.is_file():
        raise ConfigError(f"{what} {path}: no such file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{what} {path}: use a .toml, .yaml or .yml file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{what} {path}: malformed ({first_line})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path}: must hold a mapping of option names to values")
    return data


def split_names(values: Sequence[str] | None) -> list[str]:
    """``--variables a b,c`` -> ``[a, b, c]``: names repeated or comma-separated, blanks dropped."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]
