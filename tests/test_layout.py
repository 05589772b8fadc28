"""The dependency rules of docs/design.md hold: the data, models and trust know nothing of Dask."""

from __future__ import annotations

import importlib
import subprocess

import pytest

from .conftest import PYTHON, REPO


def test_core_packages_import_without_dask():
    code = ("import sys, analytics, recursive_training.data, recursive_training.retrodiction, "
            "recursive_training.registry; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["recursive_training", "recursive_training.data", "recursive_training.retrodiction",
                                     "recursive_training.metrics", "recursive_training.registry",
                                     "recursive_training.forecasting", "recursive_training.report", "analytics"])
def test_public_api_is_declared_and_importable(package):
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, name


# Which project packages each package may import (besides itself): dependencies flow one way.
ALLOWED = {
    "recursive_training.base": set(),
    "analytics": {"recursive_training.base"},
    "recursive_training.retrodiction": {"recursive_training.base"},
    "recursive_training.data": {"recursive_training.base"},
    "recursive_training.metrics": {"recursive_training.base"},
    "recursive_training.registry": {"recursive_training.base", "recursive_training.retrodiction"},
}


def project_imports(path):
    """Every project module a file imports, relative imports resolved (inside functions too)."""
    import ast

    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            else:
                found.add(node.module)
    return {name for name in found if name.split(".")[0] in ("recursive_training", "analytics")}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package):
    folder = REPO.joinpath(*package.split("."))
    assert folder.is_dir()
    for path in folder.rglob("*.py"):
        for name in project_imports(path):
            inside = name == package or name.startswith(package + ".")
            allowed = any(name == a or name.startswith(a + ".") for a in ALLOWED[package])
            assert inside or allowed, f"{path.relative_to(REPO)} imports {name}"
