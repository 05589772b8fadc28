"""The dependency rules of docs/design.md hold: the data, models and trust know nothing of Dask."""

from __future__ import annotations

import importlib
import subprocess

import pytest

from .conftest import PYTHON, REPO


def test_core_packages_import_without_dask():
    code = ("import sys, analytics, recursive_training.data, recursive_training.retrodiction; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["recursive_training", "recursive_training.data", "recursive_training.retrodiction",
                                     "recursive_training.metrics", "analytics"])
def test_public_api_is_declared_and_importable(package):
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, name
