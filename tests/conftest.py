"""Shared fixtures: small real stores and data frames."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

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


def store_of_single_files(root: Path, frame: pd.DataFrame) -> Path:
    """A store of ``frame`` whose variables each have a file of their own (ingested one by one, as a store
    grows variable by variable), so that damage to one file harms one variable; returns ``root``."""
    store = RecursiveDataStore(root, create=True)
    for name in frame.columns.drop("timestamp"):
        store.ingest(frame[["timestamp", name]])
    return root


def variable_file(root: Path, variable: str) -> Path:
    """The file that holds ``variable`` in the local store at ``root``."""
    return Path(RecursiveDataStore(root).variable_file(variable))


def finished_run(root: Path, models: tuple[str, ...], run_id: str = "r1") -> Path:
    """ROOT/store of daily_frame() and ROOT/runs holding one finished in-process run of ``models`` over
    2021-01-01..2021-05-01 (30-day windows, horizon 3): its results, report and trust. Returns ``root``."""
    from recursive_training import run_parallel_retrodiction_training

    RecursiveDataStore(root / "store", create=True).ingest(daily_frame())
    run_parallel_retrodiction_training(start_time="2021-01-01", end_time="2021-05-01", store_path=root / "store",
                                       batch_size_days=30, max_workers=0, models=models, horizon=3, lookback=200,
                                       output_dir=root / "runs", run_id=run_id)
    return root


@contextlib.contextmanager
def running_server(output_dir: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The `serve` command on a port of its own (port 0) over ``output_dir``: its base URL and process."""
    server = subprocess.Popen([PYTHON, str(REPO / "run_training.py"), "serve", "--output-dir", str(output_dir),
                               "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = re.match(r"serving .* at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)$", line.strip())
        assert url, line + server.stderr.read()
        yield url[1], server
    finally:
        server.kill()
        server.wait(timeout=30)


@pytest.fixture
def frame() -> pd.DataFrame:
    return daily_frame()


@pytest.fixture
def store_dir(tmp_path: Path, frame: pd.DataFrame) -> Path:
    root = tmp_path / "store"
    RecursiveDataStore(root, create=True).ingest(frame)
    return root


@pytest.fixture(scope="session")
def shared_client() -> Iterator[object]:
    """One 2-worker LocalCluster for the tests that neither kill nor restart its workers.

    Starting a cluster costs seconds; runs given ``client=`` share this one, as
    a notebook user's runs share their client (each run leaves it open).
    """
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        yield client


def hold_the_head_start(coordinator, then=None, timeout: float = 120.0, starting=lambda: True):
    """A progress callback that keeps the batches run here during our cluster's start from taking them all.

    On a loaded machine the cluster can take longer to start than the whole
    plan takes in-process; a test about the cluster's part then saw none. A
    batch finished here while the cluster is ``starting`` waits (in the
    thread that runs them) until it is connected, so at most one more runs
    here.
    """
    import time

    def report(done, total, batch):
        if batch is not None and batch.result is not None and batch.result.worker == "in-process" and starting():
            deadline = time.monotonic() + timeout
            while coordinator.client is None and time.monotonic() < deadline:
                time.sleep(0.05)
        if then is not None:
            then(done, total, batch)

    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A real `dask scheduler` and `dask worker` processes on 127.0.0.1 ---------------------------

DASK = str(Path(PYTHON).parent / "dask")


@dataclass
class DaskProcesses:
    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)  # name -> process


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen([DASK, *args], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@contextlib.contextmanager
def dask_processes(logs: Path, *, workers: int = 2, nanny: bool = True,
                   tls: tuple[Path, Path, Path] | None = None,
                   resources: dict[str, str] | None = None) -> Iterator[DaskProcesses]:
    """A scheduler and ``workers`` single-threaded workers, all stopped on exit.

    ``tls`` is (ca, cert, key): then every process speaks TLS only. ``resources``
    maps a worker's name (w0, w1, ...) to the resources it offers (``GPU=1``).
    """
    from distributed import Client
    from distributed.security import Security

    port = free_port()
    protocol = "tls" if tls else "tcp"
    address = f"{protocol}://127.0.0.1:{port}"
    tls_args = ["--tls-ca-file", str(tls[0]), "--tls-cert", str(tls[1]), "--tls-key", str(tls[2])] if tls else []
    scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--protocol", protocol,
                        "--dashboard-address", f"127.0.0.1:{free_port()}", *tls_args], logs / "scheduler.log")
    cluster = DaskProcesses(address, scheduler)
    try:
        for i in range(workers):
            cluster.workers[f"w{i}"] = _start(
                ["worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                 "--name", f"w{i}", "--nanny" if nanny else "--no-nanny", *tls_args,
                 *(["--resources", resources[f"w{i}"]] if f"w{i}" in (resources or {}) else [])],
                logs / f"worker{i}.log")
        security = Security(tls_ca_file=str(tls[0]), tls_client_cert=str(tls[1]), tls_client_key=str(tls[2]),
                            require_encryption=True) if tls else None
        with Client(address, timeout="30s", security=security) as client:
            client.wait_for_workers(workers, timeout=60)
        yield cluster
    finally:
        for process in [*cluster.workers.values(), scheduler]:
            _stop(process)


def longhand_design_effect(windows: list[tuple[int, int, int]]) -> float:
    """docs/design.md's design effect written out: ``windows`` holds (grid index, successes, points).

    Window residuals r = s - p n; long-run sum: sum r^2 + 2 sum over lags 1..2 of (sum of r_i r_j
    for windows exactly that far apart + sum r^2 / G); times G / (G - 1) / n^2; over p (1 - p) / n;
    at least 1/4; times (t_v / z)^2 with v = (G - 1) / 2.
    """
    from scipy.stats import norm, t

    g, n = len(windows), sum(size for _, _, size in windows)
    p = sum(hits for _, hits, _ in windows) / n
    if p in (0.0, 1.0) or g < 2:
        return 1.0
    residual = {index: hits - p * size for index, hits, size in windows}
    squares = sum(r * r for r in residual.values())
    long_run = squares
    for lag in (1, 2):
        long_run += 2 * (sum(r * residual[i + lag] for i, r in residual.items() if i + lag in residual) + squares / g)
    ratio = g / (g - 1) * max(long_run, 0.0) / n**2 / (p * (1 - p) / n)
    return max(0.25, ratio) * (t.ppf(0.975, max(1.0, (g - 1) / 2)) / norm.ppf(0.975)) ** 2
