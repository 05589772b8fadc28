"""A real single-node SLURM on 127.0.0.1 for the job queue tests, from Debian's packages.

Everything lives in a temporary directory: its own munge key and socket,
slurm.conf (passed through SLURM_CONF), state and spool directories, logs.
Nothing listens beyond loopback. `.ci/run` installs the packages; where they
are missing or SLURM cannot start here, the tests skip saying why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

NEEDED = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scancel", "runuser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(root: Path) -> str:
    host = socket.gethostname()
    available_mib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                             if line.startswith("MemAvailable:"))) // 1024
    return f"""\
ClusterName=rt-tests
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory={max(1024, available_mib - 2048)} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _wait_for(check, what: str, seconds: float, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            tails = "".join(f"\n--- {p.name}\n" + p.read_text()[-1500:] for p in sorted(logs.glob("*")) if p.is_file())
            raise RuntimeError(f"SLURM: {what} within {seconds:g} s{tails}")
        time.sleep(0.1)


def _stop_daemon(pid_file: Path) -> None:
    """Stop a daemon that is not our child (munged forks away) by the pid it wrote."""
    with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def squeue(env: dict[str, str]) -> list[str]:
    """The ids of the jobs in the queue, running or pending."""
    out = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, check=True).stdout
    return out.split()


@contextlib.contextmanager
def single_node_slurm() -> Iterator[dict[str, str]]:
    """Munge, slurmctld and slurmd on this machine; yields the environment that reaches them (SLURM_CONF)."""
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        pytest.skip(f"SLURM is not installed (missing {', '.join(missing)}); .ci/run installs it with apt-get")
    if os.geteuid() != 0:
        pytest.skip("starting munged as user munge needs root")
    root = Path(tempfile.mkdtemp(prefix="rt-slurm-"))
    daemons: list[subprocess.Popen] = []
    try:
        env = _start(root, daemons)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        _tear_down(root, daemons, os.environ)
        detail = exc.stderr.decode().strip() if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else exc
        pytest.skip(f"SLURM could not start here: {detail}")
    try:
        yield env
    finally:
        _tear_down(root, daemons, env)


def _start(root: Path, daemons: list[subprocess.Popen]) -> dict[str, str]:
    root.chmod(0o755)  # munged refuses a socket whose directories others cannot enter
    for name in ("munge", "state", "spool", "log"):
        (root / name).mkdir()
    munge = root / "munge"
    shutil.chown(munge, "munge", "munge")
    (root / "slurm.conf").write_text(_config(root))
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    subprocess.run(["runuser", "-u", "munge", "--", "mungekey", "--create", f"--keyfile={munge}/munge.key"],
                   check=True, capture_output=True)
    subprocess.run(["runuser", "-u", "munge", "--", "munged", f"--socket={munge}/munge.socket",
                    f"--key-file={munge}/munge.key", f"--pid-file={munge}/munged.pid",
                    f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"],
                   check=True, capture_output=True)
    for daemon in ("slurmctld", "slurmd"):
        with open(root / "log" / f"{daemon}.out", "w") as out:
            daemons.append(subprocess.Popen([daemon, "-D"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def node_idle() -> bool:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
        return done.stdout.strip() == "idle"

    _wait_for(node_idle, "the node did not become idle", 30, root / "log")
    return env


def _tear_down(root: Path, daemons: list[subprocess.Popen], env: dict[str, str]) -> None:
    """Cancel every job and wait for an empty queue, then stop slurmd, slurmctld and munged."""
    if len(daemons) == 2:
        subprocess.run(["scancel", "--full", f"--user={os.getuid()}"], env=env, capture_output=True)
        with contextlib.suppress(RuntimeError, subprocess.CalledProcessError):
            _wait_for(lambda: not squeue(env), "jobs were still queued", 30, root / "log")
    for process in reversed(daemons):
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    _stop_daemon(root / "munge" / "munged.pid")
    shutil.rmtree(root, ignore_errors=True)
