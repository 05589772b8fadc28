"""Imported by the fork server first: Dask's pre-spawn environment, set before anything that reads it loads.

Dask's nanny sets it (one thread for each BLAS and OpenMP pool, among
others) before it spawns a worker; forked workers inherit it from here. The
server reads Dask's configuration itself (dask.config, about 0.08 s) so that
the command line, which starts the server before its own imports, need not.
The heap settings in it are already in place: glibc reads them as a process
starts, so the server is started with them (fork_server.py).
"""

import os

from .fork_server import pre_spawn_environ

__all__: list[str] = []

os.environ.update(pre_spawn_environ())
