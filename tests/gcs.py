"""A real GCS-compatible server on 127.0.0.1 for the gs:// store tests: gcp-storage-emulator.

It speaks the JSON API that pyarrow's own GCS client uses, so stores at
``gs://`` URLs are read and written as on Google Cloud Storage; only the
endpoint (plain HTTP) and anonymous credentials differ.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

BUCKET = "stores"


@contextlib.contextmanager
def gcs_server(port: int) -> Iterator[dict[str, object]]:
    """The emulator with an empty bucket; yields pyarrow's storage options that reach it."""
    command = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent)) or shutil.which(
        "gcp-storage-emulator")
    if command is None:
        pytest.skip("gcp-storage-emulator is not installed (pip install -e '.[dev]' installs it)")
    server = subprocess.Popen([command, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(f"{base}/storage/v1/b?project=test", method="POST",
                                                 data=json.dumps({"name": BUCKET}).encode(),
                                                 headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gcp-storage-emulator did not start on port {port}")
                time.sleep(0.1)
        yield {"anonymous": True, "endpoint_override": f"127.0.0.1:{port}", "scheme": "http"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def files(options: dict[str, object], prefix: str) -> list[str]:
    """Every file under ``BUCKET/prefix``, relative to it."""
    import pyarrow.fs as pafs

    found = pafs.GcsFileSystem(**options).get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
    return sorted(info.path.removeprefix(f"{BUCKET}/{prefix}/") for info in found if info.type == pafs.FileType.File)
