"""Shared fixtures: small real stores and data frames."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recursive_training.data import RecursiveDataStore

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def daily_frame(n: int = 600, start: str = "2020-01-01", seed: int = 0) -> pd.DataFrame:
    """Wide frame: a weekly-seasonal series, a random walk and a sine, daily."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({
        "timestamp": pd.date_range(start, periods=n, freq="D"),
        "seasonal": 100 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, n),
        "walk": 50 + np.cumsum(rng.normal(0, 1, n)),
        "sine": np.sin(2 * np.pi * t / 30) + rng.normal(0, 0.05, n),
    })


@pytest.fixture
def frame() -> pd.DataFrame:
    return daily_frame()


@pytest.fixture
def store_dir(tmp_path: Path, frame: pd.DataFrame) -> Path:
    root = tmp_path / "store"
    RecursiveDataStore(root, create=True).ingest(frame)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
