"""The web API over a real output directory (a finished run, its report, trust and registered models),
spoken to over real HTTP: the `serve` command on a socket of its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import Iterator

import httpx
import pandas as pd
import pytest

from analytics import OptimizedTrustTracker
from recursive_training.forecasting import forecast_with_trusted_models
from recursive_training.registry import ModelRegistry
from recursive_training.report import FAN_CHART, TRUST_PLOT, embedded_figures

from .conftest import PYTHON, REPO, finished_run, running_server

MODELS = ("naive", "ar(order=3)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An output directory holding one run (with its report and trust) and the models one forecast registered."""
    root = finished_run(tmp_path_factory.mktemp("served"), MODELS)
    forecast_with_trusted_models(root / "store", 3, root / "first.csv", output_dir=root / "runs")
    return root


@contextlib.contextmanager
def http_server(output_dir, *extra: str) -> Iterator[tuple[httpx.Client, subprocess.Popen]]:
    """`serve --port 0` in its own process, and an HTTP client for it."""
    with running_server(output_dir, *extra) as (url, server), \
            httpx.Client(base_url=url, trust_env=False, timeout=60) as client:
        yield client, server


@pytest.fixture(scope="module")
def client(served):
    with http_server(served / "runs") as (client, _):
        yield client


def test_runs_and_their_summaries_and_reports(client, served):
    runs = client.get("/runs").json()
    assert [r["run_id"] for r in runs] == ["r1"] and runs[0]["variables"] == 3 and runs[0]["report"] is True
    summary = client.get("/runs/r1").json()
    assert summary == json.loads((served / "runs" / "r1" / "results.json").read_text())["summary"]
    page = client.get("/runs/r1/report")
    assert page.status_code == 200 and page.text == (served / "runs" / "r1" / "report.html").read_text()


def test_any_run_id_a_run_may_have_is_served(client, served):
    """The server takes the run ids `run --run-id` takes (a space is allowed there), no narrower rule."""
    import shutil

    shutil.copytree(served / "runs" / "r1", served / "runs" / "two words")
    try:
        assert client.get("/runs/two%20words").json()["run_id"] == "r1"  # a copy of r1's files
        assert "two words" in [r["run_id"] for r in client.get("/runs").json()]
    finally:
        shutil.rmtree(served / "runs" / "two words")


@pytest.mark.parametrize("run_id", ["nope", "%2E%2E", ".hidden", "r1%2F..%2F..", "registry", "outside", "r1%00"])
def test_a_run_id_never_reaches_beyond_the_output_directory(client, served, tmp_path, run_id):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "results.json").parent.mkdir()
    (elsewhere / "results.json").write_text((served / "runs" / "r1" / "results.json").read_text())
    link = served / "runs" / "outside"
    if not link.exists():
        link.symlink_to(elsewhere)  # a run-shaped directory outside, reached through a link inside
    try:
        for path in (f"/runs/{run_id}", f"/runs/{run_id}/report"):
            answer = client.get(path)
            assert answer.status_code == 404, (path, answer.text)
    finally:
        link.unlink()


def test_trust_filters_by_variable_and_model(client, served):
    with OptimizedTrustTracker(served / "runs" / "trust.sqlite") as tracker:
        expected = {(e.variable, e.spec): e.mean for e in tracker.estimates()}
    every = client.get("/trust").json()
    assert {(t["variable"], t["model"]): t["mean"] for t in every} == expected and len(expected) == 6
    walk = client.get("/trust", params={"variable": "walk", "model": "naive"}).json()
    assert len(walk) == 1 and walk[0]["mean"] == expected[("walk", "naive")] and 0 <= walk[0]["low"] <= walk[0]["high"]
    assert client.get("/trust", params={"variable": "none"}).json() == []
    naive = client.get("/trust", params={"model": "naive"}).json()
    assert {(t["variable"], t["model"]): t["mean"] for t in naive} == {
        key: mean for key, mean in expected.items() if key[1] == "naive"} and len(naive) == 3


def test_models_list_search_show_patch_and_delete(client, served):
    listed = client.get("/models").json()
    assert len(listed) == 3 and {m["variable"] for m in listed} == {"seasonal", "walk", "sine"}
    walk = next(m for m in listed if m["variable"] == "walk")
    assert client.get(f"/models/{walk['id']}").json() == walk
    by_variable = client.get("/models/search", params={"variable": "walk"}).json()
    assert [m["id"] for m in by_variable] == [walk["id"]]
    by_tag = client.get("/models/search", params={"tag": "forecast", "status": "active"}).json()
    assert len(by_tag) == 3
    high = max(m["trust_low"] for m in listed)
    assert [m["trust_low"] for m in client.get("/models/search", params={"min_trust": high}).json()] == [high]

    changed = client.patch(f"/models/{walk['id']}", json={"status": "deprecated", "add_tags": ["checked"]})
    assert changed.status_code == 200 and changed.json()["status"] == "deprecated"
    with ModelRegistry(served / "runs" / "registry") as registry:
        entry = registry.get_model(walk["id"])
        assert entry.status == "deprecated" and set(entry.tags) == {"forecast", "checked"}
    assert [m["id"] for m in client.get("/models/search", params={"status": "deprecated"}).json()] == [walk["id"]]
    client.patch(f"/models/{walk['id']}", json={"status": "active", "remove_tags": ["checked"]})

    seasonal = next(m for m in listed if m["variable"] == "seasonal")
    artifact = served / "runs" / "registry" / "artifacts" / seasonal["artifact"]
    assert artifact.is_file()
    assert client.delete(f"/models/{seasonal['id']}").json()["id"] == seasonal["id"]
    assert client.get(f"/models/{seasonal['id']}").status_code == 404 and not artifact.exists()


@pytest.mark.parametrize("method, path, body, status, message", [
    ("get", "/models/0123456789abcdef", None, 404, "no model"),
    ("patch", "/models/0123456789abcdef", {"status": "active"}, 404, "no model"),
    ("delete", "/models/..%2F..%2Fcatalog.sqlite", None, 404, "Not Found"),  # no route takes a slash
    ("patch", "/models/{walk}", {"status": "retired"}, 422, "body.status"),
    ("patch", "/models/{walk}", {"owner": "me"}, 422, "body.owner: Extra inputs are not permitted"),
    ("patch", "/models/{walk}", {"add_tags": [" padded "]}, 422, "tag ' padded '"),
    ("get", "/models/search?status=lost", None, 422, "query.status"),
    ("get", "/models/search?min_trust=2", None, 422, "query.min_trust"),
    ("get", "/models?limit=0", None, 422, "query.limit"),
    ("post", "/forecasts", {"horizon": 0}, 422, "body.horizon: Input should be greater than or equal to 1"),
    ("post", "/forecasts", {"horizon": 3, "store": "/etc"}, 422, "body.store: Extra inputs are not permitted"),
    ("post", "/forecasts", {"horizon": 3, "variables": ["nope"]}, 422, "no variable 'nope'"),
    ("post", "/forecasts", {"horizon": 3, "model": "prophet"}, 422, "prophet"),
    ("post", "/forecasts", {"horizon": 3, "run_id": "../r1"}, 404, "no run '../r1'"),
    ("post", "/forecasts", {"horizon": 3, "select": "best"}, 422, "body.select"),
    ("get", "/forecasts/0123456789abcdef", None, 404, "no forecast"),
    ("get", "/forecasts/..%2Fr1", None, 404, "Not Found"),
    ("get", "/forecasts/ABC", None, 404, "no forecast"),
])
def test_bad_requests_get_a_status_and_one_line(client, method, path, body, status, message):
    walk = client.get("/models/search", params={"variable": "walk"}).json()[0]["id"]
    answer = getattr(client, method)(path.format(walk=walk), **({"json": body} if body is not None else {}))
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and message in detail


def test_a_forecast_job_runs_and_returns_what_forecast_makes(client, served, tmp_path):
    started = client.post("/forecasts", json={"horizon": 2, "variables": ["walk", "sine"]})
    assert started.status_code == 202 and started.json()["run_id"] == "r1"
    job = _finished(client, started.json()["id"])
    assert job["status"] == "done" and set(job["chosen"]) == {"walk", "sine"}
    expected = forecast_with_trusted_models(served / "store", 2, tmp_path / "f.csv", output_dir=served / "runs",
                                            variables=("walk", "sine")).frame
    got = pd.DataFrame(job["forecasts"])
    assert list(got.columns) == list(expected.columns) and len(got) == 4
    pd.testing.assert_series_equal(got.forecast, expected.forecast, check_names=False)
    assert (served / "runs" / "forecasts" / f"{job['id']}.csv").is_file()
    failed = _finished(client, client.post("/forecasts", json={"horizon": 50}).json()["id"])
    assert failed["status"] == "failed" and failed["error"] == "no variable could be forecast"
    assert "for horizon 50" in failed["skipped"]["walk"]


def test_a_job_left_running_by_a_stopped_server_reads_as_failed(client, served):
    (served / "runs" / "forecasts").mkdir(exist_ok=True)
    (served / "runs" / "forecasts" / "00000000000000aa.json").write_text(json.dumps(
        {"id": "00000000000000aa", "status": "running", "created": "2026-01-01T00:00:00Z", "request": {}}))
    state = client.get("/forecasts/00000000000000aa").json()
    assert state["status"] == "failed" and "server stopped" in state["error"]


def test_a_malformed_body_is_a_422_and_starts_nothing(client, served):
    before = sorted((served / "runs" / "forecasts").glob("*")) if (served / "runs" / "forecasts").is_dir() else []
    answer = client.post("/forecasts", content=b"{horizon: 3", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and "JSON decode error" in answer.json()["detail"]
    after = sorted((served / "runs" / "forecasts").glob("*")) if (served / "runs" / "forecasts").is_dir() else []
    assert after == before


def test_a_token_guards_every_request_and_sigterm_stops_the_server(served):
    with http_server(served / "runs", "--token", "s3cret") as (guarded, server):
        for path in ("/", "/runs", "/models", "/trust", "/runs/r1/report"):
            assert guarded.get(path).status_code == 401
            assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert guarded.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        server.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully, then ends by the signal it got
        assert server.wait(timeout=30) == -signal.SIGTERM and "Traceback" not in server.stderr.read()


def test_the_page_lists_runs_models_and_offers_a_forecast(client, served):
    page = client.get("/").text
    assert "<td>r1</td>" in page and "href='/runs/r1/report'" in page
    figures = embedded_figures((served / "runs" / "r1" / "report.html").read_text())
    assert figures[TRUST_PLOT] in page and figures[FAN_CHART] in page  # the newest report's two plots
    assert page.count("<tr><td><code>") == len(client.get("/models").json())
    assert "id='forecast-form'" in page and "http://" not in page and "https://" not in page


def _finished(client, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/forecasts/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"forecast {job_id} did not finish in {timeout} s")


@pytest.mark.parametrize("args, message", [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 would serve beyond this machine: give --token"),
    (["--output-dir", "/nonexistent/runs"], "--output-dir /nonexistent/runs does not exist"),
    (["--port", "70000"], "--port 70000"),
])
def test_serve_refuses_bad_options_in_one_line(served, args, message):
    env = {k: v for k, v in os.environ.items() if k != "RECURSIVE_TRAINING_TOKEN"}
    done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "serve", "--output-dir", str(served / "runs"),
                           *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and message in done.stderr
