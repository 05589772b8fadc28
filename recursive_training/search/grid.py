"""Grid files and the experiments they expand to (the original ParameterGrid).

A grid file (TOML or YAML) holds ``[base]``, any option of a run config
file, and one or more ``[grid.NAME]`` tables whose keys are parameters and
whose values are the lists to try: run options (``lookback``) or a model
family's parameters (``mlp.hidden_size``). Each grid expands to the
cartesian product of its lists; the experiments of all grids together,
each named by :func:`experiment_name`, are the search.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..base import ConfigError
from ..config_file import read_mapping_file
from .naming import check_nameable, experiment_name

__all__ = ["Experiment", "GridFile", "load_grid_file"]


@dataclass(frozen=True)
class Experiment:
    """One point of a grid: its name, the grid it came from, and the parameters it sets."""

    name: str
    grid: str
    params: Mapping[str, Any]

    @property
    def run_options(self) -> dict[str, Any]:
        """The run options this point sets (lookback, horizon, ...)."""
        return {key: value for key, value in self.params.items() if "." not in key}

    @property
    def model_parameters(self) -> dict[str, dict[str, Any]]:
        """The model parameters this point sets, by family: {"mlp": {"hidden_size": 64}}."""
        by_family: dict[str, dict[str, Any]] = {}
        for key, value in self.params.items():
            if "." in key:
                family, name = key.split(".", 1)
                by_family.setdefault(family, {})[name] = value
        return by_family


@dataclass(frozen=True)
class GridFile:
    """A base configuration and named grids of parameters; validated when made."""

    base: Mapping[str, Any]
    grids: Mapping[str, Mapping[str, tuple[Any, ...]]]
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = f"grid file {self.source}: " if self.source else ""
        if not self.grids:
            raise ConfigError(f"{where}no [grid.NAME] table: name at least one parameter and the values to try")
        grids = {}
        for name, table in self.grids.items():
            if not isinstance(table, Mapping) or not table:
                raise ConfigError(f"{where}[grid.{name}] must be a table of parameter = [values, ...]")
            values = {}
            for key, listed in table.items():
                if not isinstance(listed, (list, tuple)) or not listed:
                    raise ConfigError(f"{where}[grid.{name}] {key!r} must be a non-empty list of values to try")
                if key in ("models", "model", "store_path", "output_dir", "run_id", "output"):
                    raise ConfigError(f"{where}[grid.{name}] {key!r} cannot be searched over")
                for value in listed:
                    check_nameable(key, value)
                if len(set(map(repr, listed))) != len(listed):
                    raise ConfigError(f"{where}[grid.{name}] {key!r} lists a value twice")
                values[str(key)] = tuple(listed)
            grids[str(name)] = values
        object.__setattr__(self, "grids", grids)
        object.__setattr__(self, "base", dict(self.base))

    def generate_permutations(self) -> list[Experiment]:
        """Every point of every grid, grid by grid in file order; a point two grids share is kept once."""
        experiments: dict[str, Experiment] = {}
        for grid, table in self.grids.items():
            keys = list(table)
            for values in itertools.product(*(table[key] for key in keys)):
                params = dict(zip(keys, values, strict=True))
                name = experiment_name(params)
                experiments.setdefault(name, Experiment(name, grid, params))
        return list(experiments.values())


def load_grid_file(path: str | Path) -> GridFile:
    """Read a grid file: ``[base]`` (optional) and ``[grid.NAME]`` tables, nothing else."""
    path = Path(path)
    data = read_mapping_file(path, what="grid file")
    unknown = [key for key in data if key not in ("base", "grid")]
    if unknown:
        raise ConfigError(f"grid file {path}: unknown table {unknown[0]!r} (expected [base] and [grid.NAME])")
    base, grids = data.get("base", {}), data.get("grid", {})
    if not isinstance(base, dict):
        raise ConfigError(f"grid file {path}: [base] must be a table of run options")
    if not isinstance(grids, dict):
        raise ConfigError(f"grid file {path}: [grid.NAME] tables expected, one per grid")
    return GridFile(base, grids, path)
