"""A real S3-compatible server on 127.0.0.1 for the object storage tests: moto's server mode.

It speaks S3's HTTP protocol, so pyarrow's S3 client (in this process, in
the command's process, on every worker) talks to it as to AWS; only the
endpoint and fake credentials differ.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

BUCKET = "stores"
REGION = "us-east-1"


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server with an empty bucket; yields the standard environment variables that reach it."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        pytest.skip("moto's server is not installed (pip install -e '.[dev]' installs it)")
    import pyarrow.fs as pafs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}
        pafs.S3FileSystem(**storage_options(env), allow_bucket_creation=True).create_dir(BUCKET)
        yield env
    finally:
        server.stop()


def storage_options(env: dict[str, str]) -> dict[str, str]:
    """The same endpoint and credentials as pyarrow's storage options, for a config file."""
    return {"endpoint_override": env["AWS_ENDPOINT_URL"], "access_key": env["AWS_ACCESS_KEY_ID"],
            "secret_key": env["AWS_SECRET_ACCESS_KEY"], "region": REGION}


def keys(env: dict[str, str], prefix: str) -> list[str]:
    """Every file under ``BUCKET/prefix``, relative to it."""
    import pyarrow.fs as pafs

    filesystem = pafs.S3FileSystem(**storage_options(env))
    found = filesystem.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
    return sorted(info.path.removeprefix(f"{BUCKET}/{prefix}/") for info in found if info.type == pafs.FileType.File)
