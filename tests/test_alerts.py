"""Alerts: the rules worked by hand, then a real run telling them on stderr and to a real webhook."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from recursive_training import TrainingConfig
from recursive_training.alert_rules import AlertRules
from recursive_training.alerts import AlertMonitor
from recursive_training.base import ConfigError

from .conftest import PYTHON, REPO, daily_frame, store_of_single_files, variable_file


@contextlib.contextmanager
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""
    received: list[dict] = []

    class Keep(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keep)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_rules_by_hand():
    monitor = AlertMonitor(AlertRules(failure_rate=0.25, slow_batch_factor=3.0), "r")
    for i, seconds in enumerate([1.0, 2.0, 1.0, 1.5, 1.0]):  # median 1.0 once these five are in
        monitor.batch_finished(f"b{i}", "w", seconds, failed=False)
    monitor.batch_finished("b5", "w", 3.0, failed=False)  # 3.0 is not over 3 x 1.0
    monitor.batch_finished("b6", "w", 3.7, failed=False)  # median of the six before: 1.25; limit 3.75
    assert monitor.fired == []
    monitor.batch_finished("b7", "w", 4.6, failed=False)  # median of seven: 1.5, limit 4.5
    assert [a["alert"] for a in monitor.fired] == ["slow_batch"]
    assert monitor.fired[0]["limit_seconds"] == pytest.approx(4.5)
    for i in range(2):  # 2 failed of 10 finished: 20%, not over 25%
        monitor.batch_finished(f"f{i}", "-", None, failed=True)
    assert len(monitor.fired) == 1
    monitor.batch_finished("f2", "-", None, failed=True)  # 3 of 11: 27%
    monitor.batch_finished("f3", "-", None, failed=True)  # still over: told once, not again
    assert [a["alert"] for a in monitor.fired] == ["slow_batch", "failure_rate"]
    assert monitor.fired[1]["failed"] == 3 and monitor.fired[1]["finished"] == 11


def test_memory_and_lost_workers_fire_when_crossing():
    monitor = AlertMonitor(AlertRules(worker_memory_fraction=0.5, worker_lost=True), "r")
    for used in (40, 60, 70, 30, 55):  # over the limit of 50 twice, each time from below
        monitor.worker_memory("w1", used, 100)
    monitor.worker_removed("w2", expected=True, running=0)  # scaled down as planned: not lost
    monitor.worker_removed("w3", expected=True, running=1)
    monitor.worker_removed("w4", expected=False, running=0)
    assert [(a["alert"], a["worker"]) for a in monitor.fired] == [
        ("worker_memory", "w1"), ("worker_memory", "w1"), ("worker_lost", "w3"), ("worker_lost", "w4")]


@pytest.mark.parametrize("alerts, message", [
    ({"failure_rate": 1.5}, "option 'alerts.failure_rate' is a share between 0 and 1, got 1.5"),
    ({"webhook": "ftp://x"}, "option 'alerts.webhook' must be an http:// or https:// URL, got 'ftp://x'"),
    ({"slow_batch": 3}, "option 'alerts': unknown 'slow_batch'"),
    ({"trust": [{"variable": "walk", "model": "mlp", "below": 0.5}]},
     "option 'alerts.trust': model 'mlp' is not one of this run's models (ar, naive)"),
])
def test_bad_rules_are_one_line(tmp_path, alerts, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainingConfig.from_mapping({"store_path": tmp_path, "models": ["naive", "ar"], "alerts": alerts})


def test_a_run_tells_its_alerts_on_stderr_and_to_the_webhook(tmp_path):
    store = store_of_single_files(tmp_path / "store", daily_frame())
    variable_file(store, "walk").write_bytes(b"not parquet")  # a third of the batches fail
    with webhook() as (url, received):
        (tmp_path / "run.toml").write_text(
            f'store_path = "{store}"\nstart = "2020-09-01"\nend = "2021-01-01"\nbatch_size_days = 40\n'
            'variables_per_batch = 1\nmodels = ["naive", "ar"]\nlookback = 150\nretries = 0\n'
            f'[alerts]\nwebhook = "{url}"\nfailure_rate = 0.2\n'
            '[[alerts.trust]]\nvariable = "sine"\nmodel = "naive"\nbelow = 0.999\n'
            '[[alerts.trust]]\nvariable = "seasonal"\nmodel = "ar"\nbelow = 0.0001\n')
        done = subprocess.run([PYTHON, str(REPO / "run_training.py"), "run", "--config", "run.toml", "--workers", "0",
                               "--no-progress", "--no-report", "--log-level", "WARNING"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr  # failed batches
    alerts = [line for line in done.stderr.splitlines() if line.startswith("alert: ")]
    assert len(alerts) == 2, done.stderr
    assert "recursive_training.alerts" not in done.stderr  # once, not again as a log line of --log-level
    assert any(line.startswith("alert: trust of naive for sine fell to ") for line in alerts)
    assert any(" batches failed (" in line and "over 20%" in line for line in alerts)
    assert sorted(a["alert"] for a in received) == ["failure_rate", "trust"]
    assert all(a["run_id"].startswith("run-") for a in received)
    trust = next(a for a in received if a["alert"] == "trust")
    assert (trust["variable"], trust["model"], trust["below"]) == ("sine", "naive", 0.999) and trust["trust"] < 0.999
