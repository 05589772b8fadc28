"""The bad-input battery: every case through the real CLI.

Each must end with one clear line naming the problem, a non-zero exit, no
traceback, and no damage to the existing store or results journal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import daily_frame, free_port, variable_file
from .test_cli import cli

pytestmark = pytest.mark.cluster

RUN = ["run", "--store", "store", "--output-dir", "runs", "--no-progress", "--dashboard-port", "0"]
GOOD_RUN = [*RUN, "--start", "2020-12-01", "--end", "2021-01-01", "--batch-size-days", "31"]

FILES = {
    "empty.csv": "",
    "header.csv": "timestamp,x\n",
    "notime.csv": "when,x\n2021-01-01,1\n",
    "extra.csv": "timestamp,variable,value,unit\n2021-01-01,a,1,kg\n",
    "text.csv": "timestamp,x\n2021-01-01,1\n2021-01-02,abc\n",
    "nan.csv": "timestamp,x\n2021-01-01,1\n2021-01-02,NaN\n",
    "inf.csv": "timestamp,x\n2021-01-01,-inf\n",
    "dup.csv": "timestamp,variable,value\n2021-01-01,a,1\n2021-01-02,a,2\n2021-01-01,a,3\n",
    "unsorted.csv": "timestamp,x\n2021-01-02,1\n2021-01-01,2\n",
    "tz.csv": "timestamp,x\n2021-01-01T00:00:00+01:00,1\n2021-01-02T00:00:00,2\n",
    "badtime.csv": "timestamp,x\n2021-13-45,1\n",
    "escape.csv": "timestamp,variable,value\n2021-01-01,../../etc/x,1\n",
    "overlap.csv": "timestamp,walk\n2020-03-01,1\n",
    "dupcol.csv": "timestamp,co2,co2\n2020-01-01,1,2\n",
    "table.xlsx": "not a spreadsheet",
    "source.parquet": "PAR1 this is not parquet",
    "bad.toml": "horizon = = 1\n",
    "unknown.yaml": "store_path: store\ncolour: red\n",
    "list.yaml": "- store_path\n",
}

CASES = [
    # (id, command line, expected text in the error line)
    ("missing file", ["ingest", "absent.csv", "--store", "store"], "absent.csv: no such file"),
    ("directory as file", ["ingest", "adir", "--store", "store"], "adir: not a regular file"),
    ("undecodable file", ["ingest", "binary.csv", "--store", "store"], "binary.csv: cannot read file"),
    ("empty file", ["ingest", "empty.csv", "--store", "store"], "empty.csv: file is empty"),
    ("header only", ["ingest", "header.csv", "--store", "store"], "header.csv: no data rows"),
    ("no timestamp column", ["ingest", "notime.csv", "--store", "store"], "no timestamp column"),
    ("unexpected column", ["ingest", "extra.csv", "--store", "store"], "unexpected column(s) unit"),
    ("non-numeric value", ["ingest", "text.csv", "--store", "store"], "line 3: variable 'x' 'abc' is not a number"),
    ("NaN value", ["ingest", "nan.csv", "--store", "store"], "line 3: variable 'x' is NaN"),
    ("infinite value", ["ingest", "inf.csv", "--store", "store"], "line 2: variable 'x' is infinite"),
    ("duplicate timestamp", ["ingest", "dup.csv", "--store", "store"], "line 4: duplicate timestamp 2021-01-01"),
    ("unsorted timestamps", ["ingest", "unsorted.csv", "--store", "store"], "is not sorted by timestamp"),
    ("mixed time zones", ["ingest", "tz.csv", "--store", "store"], "line 3: mixed time zones"),
    ("unparseable timestamp", ["ingest", "badtime.csv", "--store", "store"], "cannot parse timestamp '2021-13-45'"),
    ("escaping variable name", ["ingest", "escape.csv", "--store", "store"], "'../../etc/x' is not allowed"),
    ("timestamp already stored", ["ingest", "overlap.csv", "--store", "store"], "'walk' already has another value at 2020-03-01"),
    ("repeated column", ["ingest", "dupcol.csv", "--store", "store"], "dupcol.csv: column 'co2' appears more than once"),
    ("unsupported file type", ["ingest", "table.xlsx", "--store", "store"], "unsupported file type '.xlsx'"),
    ("corrupt parquet source", ["ingest", "source.parquet", "--store", "store"], "source.parquet: cannot read file"),
    ("missing store", ["run", "--store", "nowhere", "--output-dir", "runs"], "no data store at nowhere"),
    ("no store at all", ["run", "--output-dir", "runs"], "no store given: pass --store DIR"),
    ("unknown model parameter", [*RUN, "--model", "ar(depth=3)"], "model 'ar' has no parameter 'depth' (parameters: order)"),
    ("malformed model spec", [*RUN, "--model", "ar(order=)"], "model 'ar(order=)': expected family(name=value, ...)"),
    ("model named twice", [*RUN, "--model", "ar,ar(order=7)"], "names the model ar twice"),
    ("unknown window period", [*RUN, "--window-period", "fortnight"], "'window_period': unknown 'fortnight'"),
    ("unknown variable", [*RUN, "--variables", "gdp"], "unknown variable 'gdp'"),
    ("start after end", [*RUN, "--start", "2021-01-01", "--end", "2020-06-01"], "'start' (2021-01-01 00:00:00) must be before 'end'"),
    ("zero batch size", [*RUN, "--batch-size-days", "0"], "'batch_size_days' must be greater than 0"),
    ("negative batch size", [*RUN, "--batch-size-days", "-5"], "'batch_size_days' must be greater than 0"),
    ("zero horizon", [*RUN, "--horizon", "0"], "'horizon' must be at least 1"),
    ("negative horizon", [*RUN, "--horizon", "-2"], "'horizon' must be at least 1"),
    ("window with no data", [*RUN, "--start", "2030-01-01", "--end", "2030-03-01"], "no observations of the selected variables"),
    ("lookback neither count nor duration", [*RUN, "--lookback", "5 years"], "option 'lookback': '5 years' is neither"),
    ("unknown model", [*RUN, "--model", "naive,prophet"], "unknown model 'prophet'"),
    ("malformed config", [*RUN, "--config", "bad.toml"], "bad.toml: malformed"),
    ("unknown config key", [*RUN, "--config", "unknown.yaml"], "unknown option 'colour'"),
    ("config not a mapping", [*RUN, "--config", "list.yaml"], "must hold a mapping"),
    ("half the TLS options", [*RUN, "--scheduler", "tls://127.0.0.1:1", "--tls-ca-file", "ca.pem"], "missing tls_cert, tls_key"),
    ("resume with other settings", [*GOOD_RUN, "--run-id", "good", "--horizon", "3", "--resume"], "option 'horizon' differs from the run being resumed (7 then, 3 now)"),
    ("rerun without resume", [*GOOD_RUN, "--run-id", "good"], "pass --resume"),
    ("corrupt parquet in store", ["run", "--store", "corrupt-store", "--output-dir", "runs", "--no-progress",
                                  "--dashboard-port", "0", "--retries", "0", "--start", "2020-12-01"],
     "batches failed (first: "),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("battery")
    frame = daily_frame(400)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(root / "wide.csv", index=False)
    assert cli("ingest", "wide.csv", "--store", "store", cwd=root).returncode == 0
    shutil.copytree(root / "store", root / "corrupt-store")
    variable_file(root / "corrupt-store", "sine").write_bytes(b"PAR1 damaged PAR1")
    for name, text in FILES.items():
        (root / name).write_text(text)
    (root / "binary.csv").write_bytes(b"timestamp,x\n\xff\xfe\x00\x81,1\n")
    (root / "adir").mkdir()
    good = cli(*GOOD_RUN, "--run-id", "good", cwd=root)
    assert good.returncode == 0, good.stderr
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """The stores and the earlier run's files; the run directory's lock holds only the pid of its last holder."""
    return {str(p.relative_to(root)): p.read_bytes()
            for folder in ("store", "corrupt-store", "runs/good") for p in (root / folder).rglob("*")
            if p.is_file() and p.name != ".lock"}


def test_the_battery_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("args,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(workspace, args, message):
    before = snapshot(workspace)
    done = cli(*args, cwd=workspace)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    assert message in errors[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert snapshot(workspace) == before  # the store and the earlier run's journal are untouched
    assert not (workspace.parent / "etc").exists()


@pytest.mark.slow
def test_unreachable_scheduler(workspace):
    port = free_port()
    done = cli(*RUN, "--scheduler", f"tcp://127.0.0.1:{port}", cwd=workspace)
    assert done.returncode == 1
    assert done.stderr.strip() .startswith(f"error: cannot connect to tcp://127.0.0.1:{port}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
