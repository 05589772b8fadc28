"""The local workers' fork server: started by the command line before its own heavy imports, with
Dask's pre-spawn environment, and preloaded with what the run's workers need."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import PYTHON, REPO

pytestmark = pytest.mark.skipif(subprocess.run([PYTHON, "-c", "import multiprocessing as m; "
                                                "assert 'forkserver' in m.get_all_start_methods()"]).returncode,
                                reason="no fork server on this platform")

HEAVY = ("pandas", "distributed", "torch", "pyarrow")


def python(code: str, unset: tuple[str, ...] = (), **env: str) -> str:
    """The last line ``code`` prints, run with this environment, less ``unset``, plus ``env``."""
    import os

    environ = {name: value for name, value in os.environ.items() if name not in unset}
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**environ, **env}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_command_line_starts_the_fork_server_before_any_heavy_import(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('models = ["naive", "mlp(hidden_size=8)"]\nhorizon = 3\n')
    seen_by_worker = tmp_path / "worker-environment"
    code = f"""
import json, multiprocessing, os, subprocess, sys
from multiprocessing import forkserver
from recursive_training.run_training import _run_options, _start_workers_early, build_parser
options = _run_options(build_parser().parse_args(["run", "--store", "s", "--config", {str(config)!r}]))
_start_workers_early(options)
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)  # before the server has anything to do with us
imported = sorted(m for m in ("dask", "numpy") if m in sys.modules)
pid = forkserver._forkserver._forkserver_pid
import time
for _ in range(500):  # /proc shows the server's own environment only once it has exec'd
    if b"forkserver" in open(f"/proc/{{pid}}/cmdline", "rb").read():
        break
    time.sleep(0.01)
environ = dict(line.split("=", 1) for line in open(f"/proc/{{pid}}/environ").read().split("\\0") if "=" in line)
worker = multiprocessing.get_context("forkserver").Process(target=subprocess.run, args=(
    ["sh", "-c", "echo $OMP_NUM_THREADS $MKL_NUM_THREADS $MALLOC_TRIM_THRESHOLD_ > {seen_by_worker}"],))
worker.start()
worker.join()
print(json.dumps({{"heavy": heavy, "imported": imported, "pid": pid,
                  "trim": environ.get("MALLOC_TRIM_THRESHOLD_"), "mmap": environ.get("MALLOC_MMAP_THRESHOLD_"),
                  "omp at start": environ.get("OMP_NUM_THREADS"), "ours": os.environ.get("OMP_NUM_THREADS"),
                  "preload": forkserver._forkserver._preload_modules}}))
"""
    # unset: Dask's nanny sets them in its own process, and a test process that ran a cluster holds them
    seen = json.loads(python(code, unset=("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")))
    assert seen["heavy"] == []
    assert "dask" not in seen["imported"]  # the server reads Dask's configuration itself
    assert seen["pid"] is not None
    assert seen["trim"] == str(64 * 2**20) and seen["mmap"] == str(32 * 2**20)  # what glibc reads as it starts
    assert seen["omp at start"] is None and seen["ours"] is None  # set in the server, not in the command line
    assert seen_by_worker.read_text().split() == ["1", "1", str(64 * 2**20)]  # what a forked worker has
    assert seen["preload"][0] == "recursive_training.fork_server_environ"  # before anything that reads it loads
    assert "torch" in seen["preload"]  # the config file names a torch model


@pytest.mark.parametrize("flags, started", [(["--model", "ar"], "no torch"), (["--workers", "0"], "none"),
                                             (["--scheduler", "tcp://127.0.0.1:1"], "none")])
def test_the_fork_server_preloads_only_what_the_run_needs(flags, started):
    code = f"""
from multiprocessing import forkserver
from recursive_training.run_training import _run_options, _start_workers_early, build_parser
_start_workers_early(_run_options(build_parser().parse_args(["run", "--store", "s", *{flags!r}])))
server = forkserver._forkserver
print("none" if server._forkserver_pid is None else
      "torch" if "torch" in server._preload_modules else "no torch")
"""
    assert python(code) == started


def test_the_worker_environment_is_what_dasks_nanny_would_set_before_distributed_is_imported(tmp_path):
    code = """
import json, sys
from recursive_training.fork_server import pre_spawn_environ
early = pre_spawn_environ()
assert "distributed" not in sys.modules
import dask, distributed
late = {name: str(value) for name, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
print(json.dumps([early, late]))
"""
    (tmp_path / "dask.yaml").write_text("distributed:\n  nanny:\n    pre-spawn-environ:\n      OMP_NUM_THREADS: 3\n")
    early, late = json.loads(python(code, DASK_CONFIG=str(tmp_path)))
    assert early["OMP_NUM_THREADS"] == "3"  # the user's Dask configuration wins over distributed's defaults
    assert early.pop("MALLOC_TRIM_THRESHOLD_") == str(64 * 2**20)
    assert early.pop("MALLOC_MMAP_THRESHOLD_") == str(32 * 2**20)  # the trim threshold alone disables its adapting
    late.pop("MALLOC_TRIM_THRESHOLD_")
    assert early == late and early["MKL_NUM_THREADS"] == "1"
