"""Stores on object storage: real S3- and GCS-compatible servers (moto, gcp-storage-emulator) on 127.0.0.1,
read by real Dask workers."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from recursive_training import ParallelTrainingCoordinator, TrainingConfig
from recursive_training.base import ConfigError
from recursive_training.data import STORE_KINDS, RecursiveDataStore, StoreLocation

from .conftest import PYTHON, REPO, daily_frame, free_port
from .gcs import BUCKET as GCS_BUCKET
from .gcs import files, gcs_server
from .s3 import BUCKET, keys, s3_server, storage_options

pytestmark = pytest.mark.cluster

# with an MLP the command starts its cluster without a head start here (torch is not imported yet), so
# every batch runs on a worker that reads the bucket itself
RUN = ("--start", "2020-07-01", "--end", "2021-01-01", "--batch-size-days", "60", "--model", "naive,ar,mlp",
       "--epochs", "20", "--lookback", "150", "--dashboard-port", "0", "--no-progress", "--no-report")


@pytest.fixture(scope="module")
def s3():
    with s3_server() as env:
        yield env


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory):
    root = tmp_path_factory.mktemp("object-store")
    frame = daily_frame(500)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(root / "wide.csv", index=False)
    return root / "wide.csv"


def cli(*args: str, cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(REPO / "run_training.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ, **(env or {})})


def trust_rows(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("seasonal", "sine", "walk"))]


@pytest.mark.slow
def test_ingest_and_run_on_s3_through_the_command_line_equal_a_local_store(s3, wide_csv, tmp_path):
    url = f"s3://{BUCKET}/cli/store"
    done = cli("ingest", str(wide_csv), "--store", url, cwd=tmp_path, env=s3)
    assert done.returncode == 0, done.stderr
    assert f"1500 new rows of 3 variable(s) (seasonal, sine, walk) into {url}" in done.stdout
    # pyarrow's own S3 client writes no directory markers and no temporary keys: the catalog and one bucket file
    stored = keys(s3, "cli/store")
    assert stored[0] == "catalog.json" and len(stored) == 2 and stored[1].startswith("data/bucket-")
    listed = cli("catalog", "--store", url, cwd=tmp_path, env=s3)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()[1:]] == ["seasonal", "sine", "walk"]

    on_s3 = cli("run", "--store", url, "--workers", "2", "--output-dir", "s3-runs", *RUN, cwd=tmp_path, env=s3)
    assert on_s3.returncode == 0, on_s3.stderr
    assert cli("ingest", str(wide_csv), "--store", "local-store", cwd=tmp_path).returncode == 0
    local = cli("run", "--store", "local-store", "--workers", "0", "--output-dir", "local-runs", *RUN, cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert trust_rows(on_s3.stdout) and trust_rows(on_s3.stdout) == trust_rows(local.stdout)
    results = json.loads(next((tmp_path / "s3-runs").glob("run-*/results.json")).read_text())
    assert results["summary"]["store"] == url  # kept as the URL, never turned into a local path
    assert all(batch["result"]["worker"].startswith("tcp://127.0.0.1:") for batch in results["batches"])


def test_storage_options_reach_workers_that_have_no_credentials(s3, wide_csv, tmp_path, shared_client):
    """The config's storage options travel with the run: the shared cluster's workers never saw the
    AWS variables, and neither did this process."""
    assert "AWS_ENDPOINT_URL" not in os.environ
    options = storage_options(s3)
    url = f"s3://{BUCKET}/options/store"
    RecursiveDataStore(StoreLocation(url, options), create=True).ingest(wide_csv)
    config = lambda store, **extra: TrainingConfig.from_mapping({  # noqa: E731
        "store_path": store, "start": "2020-07-01", "end": "2021-01-01", "batch_size_days": 60,
        "models": ("naive", "ar"), "lookback": 150, "output_dir": tmp_path / "runs", "report": False, **extra})
    remote = ParallelTrainingCoordinator(config(url, storage_options=options, run_id="s3"),
                                         client=shared_client).start_training()
    RecursiveDataStore(tmp_path / "local", create=True).ingest(wide_csv)
    local = ParallelTrainingCoordinator(config(tmp_path / "local", workers=0, run_id="local",
                                               trust_db=tmp_path / "local.sqlite")).start_training()
    assert remote.batches.failed == local.batches.failed == 0 and remote.batches.completed == remote.batches.total
    assert remote.to_dict()["variables"] == local.to_dict()["variables"]


@pytest.mark.parametrize("kind", sorted(STORE_KINDS))
def test_every_store_kind_reads_s3_as_it_reads_a_local_directory(s3, tmp_path, kind):
    frame = daily_frame(400)
    location = StoreLocation(f"s3://{BUCKET}/kinds/{kind}", storage_options(s3))
    STORE_KINDS[kind](location, create=True).ingest(frame)
    RecursiveDataStore(tmp_path, create=True).ingest(frame)
    remote, local = STORE_KINDS[kind](location), STORE_KINDS[kind](tmp_path)
    for variable in ("seasonal", "walk"):
        for start, end in ((None, None), ("2020-03-01", "2020-05-17"), ("2020-12-31", "2021-01-02")):
            pd.testing.assert_series_equal(remote.load(variable, start, end), local.load(variable, start, end))
        assert remote.info(variable) == local.info(variable).__class__(**{
            **local.info(variable).__dict__, "path": remote.info(variable).path})


def test_a_second_ingest_publishes_a_new_bucket_and_removes_the_old(s3):
    url = f"s3://{BUCKET}/reingest/store"
    location = StoreLocation(url, storage_options(s3))
    first = daily_frame(300)
    store = RecursiveDataStore(location, create=True)
    store.ingest(first.iloc[:200])
    before = keys(s3, "reingest/store")
    report = RecursiveDataStore(location).ingest(first.iloc[150:])  # 50 rows overlap, 100 are new
    assert report.rows == 3 * 100 and report.unchanged == 3 * 50
    after = keys(s3, "reingest/store")
    assert len(after) == len(before) == 2 and set(after) & set(before) == {"catalog.json"}  # a new bucket, the old gone
    reopened = RecursiveDataStore(location)
    assert reopened.info("walk").count == 300
    pd.testing.assert_series_equal(reopened.load("walk"), first.set_index("timestamp")["walk"].rename_axis(
        "timestamp"), check_freq=False)


def test_an_unreachable_or_misconfigured_store_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"storage_options apply to s3, gs stores"):
        RecursiveDataStore(StoreLocation("hdfs://namenode/store", {"user": "me"}))
    with pytest.raises(ConfigError, match=r"^store s3://b/s: cannot open its filesystem \(.*bogus"):
        RecursiveDataStore(StoreLocation("s3://b/s", {"bogus": 1}))
    done = cli("run", "--store", "s3://no-such-bucket/store", "--workers", "0", cwd=tmp_path,
               env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "s3://no-such-bucket/store" in done.stderr


def test_a_file_url_is_a_local_store_by_another_name(tmp_path):
    frame = daily_frame(200)
    RecursiveDataStore(f"file://{tmp_path}/by-url", create=True).ingest(frame)
    assert (tmp_path / "by-url" / "catalog.json").is_file()  # written where the URL points, renamed into place
    by_path = RecursiveDataStore(tmp_path / "by-url")
    by_url = RecursiveDataStore(f"file://{tmp_path}/by-url")
    assert by_url.root == f"file://{tmp_path}/by-url" and by_url.variables == by_path.variables
    pd.testing.assert_series_equal(by_url.load("walk", "2020-03-01"), by_path.load("walk", "2020-03-01"))


@pytest.fixture(scope="module")
def gcs():
    with gcs_server(free_port()) as options:
        yield options


def test_a_store_on_gcs_reads_ingests_and_runs_on_workers_as_a_local_one(gcs, tmp_path, shared_client):
    """gs:// through pyarrow's own GCS client against a real GCS-compatible server: every store kind reads
    what a local store reads, a second ingest publishes a new bucket and removes the old, and the shared
    cluster's workers (which have only the run's storage options) give the local run's scores and trust."""
    frame = daily_frame(400)
    url = f"gs://{GCS_BUCKET}/store"
    RecursiveDataStore(StoreLocation(url, gcs), create=True).ingest(frame.iloc[:300])
    before = files(gcs, "store")
    RecursiveDataStore(StoreLocation(url, gcs)).ingest(frame)
    after = files(gcs, "store")
    assert len(after) == len(before) == 2 and set(after) & set(before) == {"catalog.json"}
    RecursiveDataStore(tmp_path / "local", create=True).ingest(frame)
    for kind in sorted(STORE_KINDS):
        remote, local = STORE_KINDS[kind](StoreLocation(url, gcs)), STORE_KINDS[kind](tmp_path / "local")
        for variable in ("seasonal", "walk"):
            pd.testing.assert_series_equal(remote.load(variable, "2020-03-01", "2020-05-17"),
                                           local.load(variable, "2020-03-01", "2020-05-17"))
    config = lambda store, **extra: TrainingConfig.from_mapping({  # noqa: E731
        "store_path": store, "start": "2020-07-01", "end": "2021-01-01", "batch_size_days": 60,
        "models": ("naive", "ar"), "lookback": 150, "output_dir": tmp_path / "runs", "report": False, **extra})
    remote = ParallelTrainingCoordinator(config(url, storage_options=gcs, run_id="gcs"),
                                         client=shared_client).start_training()
    local = ParallelTrainingCoordinator(config(tmp_path / "local", workers=0, run_id="local",
                                               trust_db=tmp_path / "local.sqlite")).start_training()
    assert remote.batches.failed == 0 and remote.batches.completed == remote.batches.total > 0
    assert remote.store == url and remote.to_dict()["variables"] == local.to_dict()["variables"]
