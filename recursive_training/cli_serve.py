"""``run_training.py serve``: the web API and page over an output directory, on uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

from .base import ConfigError
from .layout import DEFAULT_OUTPUT_DIR

__all__ = ["add_serve_parser", "run_serve", "is_local_host"]

TOKEN_VARIABLE = "RECURSIVE_TRAINING_TOKEN"


def add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve runs, trust, models and forecasts over HTTP, with a web page")
    serve.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                       help=f"the output directory to serve (default {DEFAULT_OUTPUT_DIR})")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; any other needs --token)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free one)")
    serve.add_argument("--token", help=f"require 'Authorization: Bearer TOKEN' on every request (or set "
                                       f"{TOKEN_VARIABLE}, which keeps it out of the process list)")


def is_local_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if not is_local_host(args.host) and token is None:
        raise ConfigError(f"--host {args.host} would serve beyond this machine: give --token (or set "
                          f"{TOKEN_VARIABLE}) so that every request must carry it")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: choose 0 to 65535")
    if not args.output_dir.is_dir():
        raise ConfigError(f"--output-dir {args.output_dir} does not exist: run a retrodiction first")
    import uvicorn

    from .service import create_app

    listening = _bind(args.host, args.port)
    host, port = listening.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_app(args.output_dir, token), log_level="warning"))
    print(f"serving {args.output_dir} at http://{_url_host(host)}:{port}/ (Ctrl-C stops)", flush=True)
    server.run(sockets=[listening])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that the address printed is the one bound (port 0 included)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listening = socket.socket(family, kind, protocol)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(128)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return listening


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
