"""The Parquet store: ingest, validation, the three read paths, safety."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recursive_training.base import (
    DataError,
    IngestError,
    StoreCorruptError,
    UnknownVariableError,
)
from recursive_training.data import (
    OptimizedDataStore,
    RecursiveDataStore,
    SegmentCache,
    StreamingDataStore,
    open_store,
)

from .conftest import daily_frame, variable_file

KINDS = [RecursiveDataStore, OptimizedDataStore, StreamingDataStore]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_wide_csv_round_trip_and_catalog(tmp_path, frame):
    source = tmp_path / "wide.csv"
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(source, index=False)
    store = RecursiveDataStore(tmp_path / "s", create=True)
    report = store.ingest(source)
    assert report.rows == 3 * len(frame) and set(report.variables) == {"seasonal", "walk", "sine"}
    info = store.info("walk")
    assert (info.count, info.frequency, info.first[:10], info.last[:10]) == (600, "D", "2020-01-01", "2021-08-22")
    loaded = RecursiveDataStore(tmp_path / "s").load("walk")
    np.testing.assert_allclose(loaded.to_numpy(), frame["walk"].to_numpy())
    # one bucket file; each variable, in name order, its own row group (600 rows: one)
    assert {store.info(v).path for v in store.variables} == {str(p.relative_to(tmp_path / "s")) for p in
                                                             (tmp_path / "s" / "data").iterdir()}
    assert [store.info(v).row_groups for v in ("seasonal", "sine", "walk")] == [(0, 1), (1, 2), (2, 3)]


def test_long_parquet_ingest(tmp_path):
    long = pd.DataFrame({
        "timestamp": pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-01"]),
        "variable": ["a", "a", "b"],
        "value": [1.0, 2.0, 3.0],
    })
    path = tmp_path / "long.parquet"
    long.to_parquet(path)
    store = RecursiveDataStore(tmp_path / "s", create=True)
    store.ingest(path)
    assert store.variables == ("a", "b")
    assert store.load("a").tolist() == [1.0, 2.0]


@pytest.mark.parametrize("cls", KINDS)
def test_every_store_kind_loads_the_same_ranges(store_dir, frame, cls):
    store = cls(store_dir)
    full = frame.set_index("timestamp")["sine"]
    for start, end in [(None, None), ("2020-03-01", "2020-04-01"), ("2019-01-01", "2020-01-03"),
                       ("2021-08-20", "2030-01-01"), ("2020-02-10 12:00", "2020-02-12")]:
        got = store.load("sine", start, end)
        lo = full.index[0] if start is None else pd.Timestamp(start)
        hi = full.index[-1] + pd.Timedelta(days=1) if end is None else pd.Timestamp(end)
        want = full[(full.index >= lo) & (full.index < hi)]
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
        np.testing.assert_array_equal(got.index.to_numpy(), want.index.to_numpy())
    many = store.load_many(["sine", "walk"], "2020-05-01", "2020-05-08")
    assert [len(s) for s in many.values()] == [7, 7]


@pytest.mark.parametrize("cls", KINDS)
def test_load_window_counts_observations_around_the_window(store_dir, cls):
    window = cls(store_dir).load_window("walk", "2020-06-01", "2020-07-01", before=45, after=7)
    assert len(window) == 45 + 30 + 7
    assert window.index[0] == pd.Timestamp("2020-06-01") - pd.Timedelta(days=45)
    # at the start of history there is less to give, and no error
    early = cls(store_dir).load_window("walk", "2020-01-10", "2020-01-20", before=100, after=3)
    assert early.index[0] == pd.Timestamp("2020-01-01") and len(early) == 9 + 10 + 3


def test_load_window_with_gaps_reads_enough_history(tmp_path):
    ts = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04"])
    RecursiveDataStore(tmp_path / "s", create=True).ingest(
        pd.DataFrame({"timestamp": ts, "x": np.arange(6.0)}))
    got = OptimizedDataStore(tmp_path / "s", cache=SegmentCache()).load_window(
        "x", "2020-06-03", "2020-06-04", before=4, after=1)
    assert got.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_optimized_store_caches_per_process(store_dir):
    cache = SegmentCache()
    store = OptimizedDataStore(store_dir, cache=cache)
    store.load("walk", "2020-02-01", "2020-03-01")
    assert (cache.hits, cache.misses) == (0, 1)
    store.load("walk", "2020-05-01", "2020-06-01")  # a small variable is cached whole
    OptimizedDataStore(store_dir, cache=cache).load("walk")
    assert (cache.hits, cache.misses) == (2, 1)


def test_the_segment_cache_evicts_the_least_recently_used_range_of_any_variable():
    from recursive_training.data.optimized_data_store import _Segment

    def segment(start: str, rows: int) -> _Segment:
        return _Segment(pd.Timestamp(start), None, np.zeros(rows, "datetime64[ns]"), np.zeros(rows))

    cache = SegmentCache(max_bytes=3 * 16 * 10)  # three segments of 10 rows
    cache.put(("f", "a"), segment("2020-01-01", 10))
    cache.put(("f", "b"), segment("2020-01-01", 10))
    cache.put(("f", "a"), segment("2019-01-01", 10))  # a second range of a
    assert cache.find(("f", "a"), pd.Timestamp("2020-06-01"), None).start == pd.Timestamp("2019-01-01")
    assert cache.find(("f", "b"), pd.Timestamp("2020-06-01"), None) is not None  # now a's 2020 range is oldest
    cache.put(("g", "c"), segment("2020-01-01", 10))
    assert cache.nbytes == 3 * 16 * 10
    assert cache.find(("f", "a"), pd.Timestamp("2019-06-01"), None).start == pd.Timestamp("2019-01-01")
    assert cache.find(("f", "a"), pd.Timestamp("2018-06-01"), None) is None  # covered by no range
    cache.put(("g", "d"), segment("2020-01-01", 10))  # evicts b, the least recently used
    assert cache.find(("f", "b"), pd.Timestamp("2020-06-01"), None) is None
    assert [cache.find(key, pd.Timestamp("2020-06-01"), None) is not None
            for key in [("f", "a"), ("g", "c"), ("g", "d")]] == [True, True, True]
    cache.put(("g", "d"), segment("2020-01-01", 10))  # the same range again replaces it
    assert cache.nbytes == 3 * 16 * 10


def test_changing_a_loaded_series_leaves_the_cache_alone(store_dir):
    store = OptimizedDataStore(store_dir, cache=SegmentCache())
    first = store.load("walk", "2020-02-01", "2020-03-01")
    expected = first.to_numpy().copy()
    first.iloc[:] = -1.0
    np.testing.assert_array_equal(store.load("walk", "2020-02-01", "2020-03-01").to_numpy(), expected)


def test_optimized_store_reads_ranges_of_big_variables_with_pushdown(store_dir):
    cache = SegmentCache(max_bytes=2000)  # too small to hold 600 rows whole
    store = OptimizedDataStore(store_dir, cache=cache)
    assert len(store.load("walk", "2020-02-01", "2020-02-11")) == 10
    assert cache.misses == 1 and 0 < cache.nbytes <= 2000
    assert len(store.load("walk", "2020-02-03", "2020-02-05")) == 2  # inside the cached range
    assert cache.hits == 1


def test_optimized_cache_sees_reingested_data(tmp_path):
    root = tmp_path / "s"
    RecursiveDataStore(root, create=True).ingest(pd.DataFrame({"timestamp": pd.to_datetime(["2020-01-01"]), "x": [1.0]}))
    cache = SegmentCache()
    assert OptimizedDataStore(root, cache=cache).load("x").tolist() == [1.0]
    RecursiveDataStore(root).ingest(pd.DataFrame({"timestamp": pd.to_datetime(["2020-01-02"]), "x": [2.0]}))
    assert OptimizedDataStore(root, cache=cache).load("x").tolist() == [1.0, 2.0]


def test_stream_yields_bounded_chunks_covering_the_range(store_dir, frame):
    chunks = list(StreamingDataStore(store_dir).stream("seasonal", "2020-01-05", "2021-01-05", chunk_rows=64))
    assert all(len(c) <= 64 for c in chunks)
    joined = pd.concat(chunks)
    want = frame.set_index("timestamp")["seasonal"]["2020-01-05":"2021-01-04"]
    np.testing.assert_array_equal(joined.to_numpy(), want.to_numpy())


def test_merge_into_existing_variable_and_refuse_overlap(tmp_path):
    root = tmp_path / "s"
    store = RecursiveDataStore(root, create=True)
    store.ingest(daily_frame(100)[["timestamp", "walk"]])
    later = daily_frame(150)[["timestamp", "walk"]].iloc[100:]
    store.ingest(later)
    assert store.info("walk").count == 150
    before = (root / "catalog.json").read_bytes(), Path(store.variable_file("walk")).read_bytes()
    stored = store.load("walk").iloc[4:6].rename("walk").reset_index()
    again = store.ingest(stored)  # exactly what is stored
    assert (again.rows, again.unchanged, again.variables) == (0, 2, ())
    assert ((root / "catalog.json").read_bytes(), Path(store.variable_file("walk")).read_bytes()) == before  # untouched
    changed = stored.assign(walk=stored["walk"] + 1.0)
    with pytest.raises(IngestError, match="already has another value at 2020-01-05.*--replace"):
        store.ingest(changed)
    assert RecursiveDataStore(root).info("walk").count == 150
    before_walk = store.load("walk")
    replaced = store.ingest(pd.concat([changed, daily_frame(152)[["timestamp", "walk"]].iloc[150:]]), replace=True)
    assert (replaced.rows, replaced.replaced, replaced.unchanged) == (2, 2, 0)
    walk = RecursiveDataStore(root).load("walk")
    assert len(walk) == 152 and list(walk.iloc[4:6]) == list(changed["walk"])  # overwritten
    assert walk.iloc[:4].equals(before_walk.iloc[:4]) and walk.iloc[6:150].equals(before_walk.iloc[6:])  # the rest kept


def test_time_zone_aware_input_is_stored_as_utc(tmp_path):
    source = write_csv(tmp_path / "tz.csv", "timestamp,x\n2021-01-01T01:00:00+01:00,1\n2021-01-01T12:00:00Z,2\n")
    store = RecursiveDataStore(tmp_path / "s", create=True)
    store.ingest(source)
    assert list(store.load("x").index) == [pd.Timestamp("2021-01-01 00:00"), pd.Timestamp("2021-01-01 12:00")]


def test_wide_empty_cells_mean_no_observation(tmp_path):
    source = write_csv(tmp_path / "w.csv", "date,a,b\n2021-01-01,1,\n2021-01-02,2,5\n2021-01-03,,6\n")
    store = RecursiveDataStore(tmp_path / "s", create=True)
    store.ingest(source)
    assert store.load("a").tolist() == [1.0, 2.0] and store.load("b").tolist() == [5.0, 6.0]


def test_sort_option_sorts_instead_of_refusing(tmp_path):
    source = write_csv(tmp_path / "u.csv", "timestamp,x\n2021-01-02,2\n2021-01-01,1\n")
    store = RecursiveDataStore(tmp_path / "s", create=True)
    with pytest.raises(IngestError, match="not sorted"):
        store.ingest(source)
    store.ingest(source, sort=True)
    assert store.load("x").tolist() == [1.0, 2.0]


BAD_SOURCES = [
    ("missing.csv", None, "no such file"),
    ("empty.csv", "", "file is empty"),
    ("header.csv", "timestamp,x\n", "no data rows"),
    ("nots.csv", "when,x\n2021-01-01,1\n", "no timestamp column"),
    ("badts.csv", "timestamp,x\n2021-01-01,1\nyesterday,2\n", "line 3: cannot parse timestamp 'yesterday'"),
    ("text.csv", "timestamp,x\n2021-01-01,1\n2021-01-02,abc\n", "line 3: variable 'x' 'abc' is not a number"),
    ("nan.csv", "timestamp,x\n2021-01-01,NaN\n", "line 2: variable 'x' is NaN"),
    ("inf.csv", "timestamp,x\n2021-01-01,1\n2021-01-02,inf\n", "line 3: variable 'x' is infinite"),
    ("dup.csv", "timestamp,x\n2021-01-01,1\n2021-01-01,2\n", "line 3: duplicate timestamp 2021-01-01 00:00:00"),
    ("unsorted.csv", "timestamp,x\n2021-01-02,1\n2021-01-01,2\n", "line 3: variable 'x' is not sorted"),
    ("mixedtz.csv", "timestamp,x\n2021-01-01T00:00Z,1\n2021-01-02T00:00,2\n", "line 3: mixed time zones"),
    ("escape.csv", "timestamp,variable,value\n2021-01-01,../x,1\n", "line 2: variable name '../x' is not allowed"),
    ("dot.csv", "timestamp,variable,value\n2021-01-01,..,1\n", "variable name '..' is not allowed"),
    ("longmissing.csv", "timestamp,variable,value\n2021-01-01,a,\n", "line 2: missing value for variable 'a'"),
    ("extra.csv", "timestamp,variable,value,unit\n2021-01-01,a,1,kg\n", "unexpected column(s) unit"),
    ("novalue.csv", "timestamp,variable\n2021-01-01,a\n", "missing value"),
    ("data.xlsx", "x", "unsupported file type '.xlsx'"),
    ("corrupt.parquet", "not parquet at all", "cannot read file"),
]


@pytest.mark.parametrize("name,text,message", BAD_SOURCES, ids=[b[0] for b in BAD_SOURCES])
def test_bad_sources_are_refused_with_a_clear_message(tmp_path, store_dir, name, text, message):
    before = {p: p.read_bytes() for p in store_dir.rglob("*") if p.is_file()}
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(IngestError) as info:
        RecursiveDataStore(store_dir).ingest(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    after = {p: p.read_bytes() for p in store_dir.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing damaged


def test_names_never_escape_the_root(tmp_path):
    store = RecursiveDataStore(tmp_path / "s", create=True)
    store.ingest(pd.DataFrame({"timestamp": pd.to_datetime(["2021-01-01"]), "a b%c": [1.0]}))
    path = Path(store.variable_file("a b%c")).resolve()
    assert path.is_relative_to((tmp_path / "s").resolve())
    assert store.load("a b%c").tolist() == [1.0]


def test_unknown_variable_and_missing_store(tmp_path, store_dir):
    with pytest.raises(UnknownVariableError, match="unknown variable 'nope'"):
        RecursiveDataStore(store_dir).load("nope")
    with pytest.raises(DataError, match="no data store at"):
        RecursiveDataStore(tmp_path / "absent")


@pytest.mark.parametrize("kind", ["base", "optimized", "streaming"])
def test_corrupt_parquet_in_store_is_named(store_dir, kind):
    victim = variable_file(store_dir, "walk")
    victim.write_bytes(b"garbage")
    store = open_store(store_dir, kind)
    if kind == "optimized":
        store.cache = SegmentCache()
    with pytest.raises(StoreCorruptError, match=rf"^{re.escape(str(victim))}: cannot read data of variable 'walk'"):
        store.load("walk")


def test_row_groups_are_small_enough_for_pushdown(store_dir):
    meta = pq.ParquetFile(variable_file(store_dir, "walk")).metadata
    assert meta.num_rows == 3 * 600 and meta.schema.to_arrow_schema().field("timestamp").type == pa.timestamp("ns")
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [600] * 3  # a variable each
    named = pd.read_parquet(variable_file(store_dir, "walk"))["variable"].astype(str)  # any tool sees what it holds
    assert named.unique().tolist() == ["seasonal", "sine", "walk"] and (named == "walk").sum() == 600


def test_a_reopened_store_is_kept_until_an_ingest_publishes_a_new_catalog(tmp_path, frame):
    from recursive_training.data import reopened_store

    RecursiveDataStore(tmp_path / "s", create=True).ingest(frame[["timestamp", "walk"]])
    first = reopened_store(tmp_path / "s", "optimized")
    assert reopened_store(tmp_path / "s", "optimized") is first  # the catalog was read once
    assert reopened_store(tmp_path / "s", "streaming") is not first  # each kind its own
    RecursiveDataStore(tmp_path / "s").ingest(frame[["timestamp", "sine"]])
    after = reopened_store(tmp_path / "s", "optimized")
    assert after is not first and after.variables == ("sine", "walk") and first.variables == ("walk",)


def _ingest_error(path, store) -> str:
    from recursive_training.base import IngestError

    with pytest.raises(IngestError) as caught:
        RecursiveDataStore(store, create=True).ingest(path)
    return str(caught.value)


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_reading_in_small_blocks_gives_the_same_rows_and_the_same_errors(tmp_path, monkeypatch, layout):
    """Every check spans blocks and parts: the same store, and for each damage the same message and line,
    whether the file is read whole or 7 cells at a time, each variable a part of its own, routed 5 rows at a
    time; and a damaged file leaves nothing behind, in the store or in the staging directory."""
    import recursive_training.data.data_store as data_store
    from recursive_training.data import ingest

    times = pd.date_range("2021-01-01", periods=12, freq="D").strftime("%Y-%m-%d").tolist()
    if layout == "long":
        lines = ["timestamp,variable,value"] + [f"{t},{v},{i}" for i, t in enumerate(times) for v in ("b", "a")]
    else:
        lines = ["timestamp,b,a"] + [f"{t},{i},{-i}" for i, t in enumerate(times)]
    damaged = {
        "good": lines,
        "bad_value": lines[:10] + [lines[10].rsplit(",", 1)[0] + ",x"] + lines[11:],
        "duplicate": lines + [lines[3]],
        "unsorted": lines[:1] + lines[1:9] + lines[11:] + lines[9:11],
        "aware_first": lines[:1] + [lines[1].replace(lines[1][:10], lines[1][:10] + "T00:00Z", 1)] + lines[2:],
        "aware_last": lines[:-1] + [lines[-1].replace(lines[-1][:10], lines[-1][:10] + "T00:00Z", 1)],
    }
    for name, content in damaged.items():
        (tmp_path / f"{name}.csv").write_text("\n".join(content) + "\n")
    whole = {}
    for name in damaged:
        if name == "good":
            RecursiveDataStore(tmp_path / "whole", create=True).ingest(tmp_path / "good.csv")
        else:
            whole[name] = _ingest_error(tmp_path / f"{name}.csv", tmp_path / f"whole-{name}")
    monkeypatch.setattr(ingest, "CELLS_PER_BLOCK", 7)
    monkeypatch.setattr(ingest, "ROUTE_ROWS", 5)
    monkeypatch.setattr(data_store, "BUCKET_ROWS", 12)  # a part (and a bucket) per variable
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "staging"))
    (tmp_path / "staging").mkdir()
    blocks = RecursiveDataStore(tmp_path / "blocks", create=True)
    blocks.ingest(tmp_path / "good.csv")
    assert blocks.info("a").path != blocks.info("b").path
    for variable in ("a", "b"):
        pd.testing.assert_series_equal(RecursiveDataStore(tmp_path / "blocks").load(variable),
                                       RecursiveDataStore(tmp_path / "whole").load(variable))
    for name, message in whole.items():
        assert _ingest_error(tmp_path / f"{name}.csv", tmp_path / f"blocks-{name}") == message
        assert " line " in message  # each names where
        # nothing left behind: variable a's bucket, written before the damage to b was found, was taken back
        assert [p.name for p in (tmp_path / f"blocks-{name}").rglob("*")] == ["data"]
    assert list((tmp_path / "staging").iterdir()) == []


def wide(n_variables: int, rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=rows, freq="D"),
                         **{f"v{i:02d}": rng.normal(size=rows).cumsum() for i in range(n_variables)}})


def test_a_batch_of_many_variables_opens_each_bucket_once_and_reads_what_one_by_one_reads(tmp_path, monkeypatch):
    import recursive_training.data.data_store as data_store
    from recursive_training.data.location import StoreLocation

    monkeypatch.setattr(data_store, "BUCKET_VARIABLES", 25)
    frame = wide(60)
    RecursiveDataStore(tmp_path / "s", create=True).ingest(frame)
    assert len(list((tmp_path / "s" / "data").iterdir())) == 3  # 25 + 25 + 10 variables
    opened = []
    real_open = StoreLocation.open_parquet
    monkeypatch.setattr(StoreLocation, "open_parquet", lambda self, relative, *key: opened.append(relative)
                        or real_open(self, relative, *key))
    store = OptimizedDataStore(tmp_path / "s", cache=SegmentCache())
    names = list(frame.columns[1:])
    windows = store.load_windows(names, "2020-06-01", "2020-07-01", before=30, after=5)
    assert sorted(opened) == sorted({store.info(v).path for v in names})  # one open per file, not per variable
    for name in names:  # the base store reads each variable's rows whole and cuts them: a second way
        alone = RecursiveDataStore(tmp_path / "s").load_window(name, "2020-06-01", "2020-07-01", before=30, after=5)
        pd.testing.assert_series_equal(windows[name], alone)
        assert len(alone) == 30 + 30 + 5 and alone.index[30] == pd.Timestamp("2020-06-01")
    opened.clear()
    store.load_windows(names, "2020-06-01", "2020-07-01", before=30, after=5)
    assert opened == []  # the process cache holds them now


def test_buckets_are_bounded_in_variables_and_rows(tmp_path, monkeypatch):
    import recursive_training.data.data_store as data_store

    monkeypatch.setattr(data_store, "BUCKET_ROWS", 1000)
    frame = wide(7, rows=400)
    store = RecursiveDataStore(tmp_path / "s", create=True)
    store.ingest(frame)
    files = {}
    for name in store.variables:
        files.setdefault(store.info(name).path, []).append(name)
    assert list(files.values()) == [["v00", "v01"], ["v02", "v03"], ["v04", "v05"], ["v06"]]  # 800 rows a file
    for name in store.variables:
        np.testing.assert_array_equal(store.load(name).to_numpy(), frame[name].to_numpy())


def test_a_bucket_left_less_than_half_alive_is_rewritten_and_the_old_one_deleted(tmp_path):
    frame = wide(4)
    store = RecursiveDataStore(tmp_path / "s", create=True)
    store.ingest(frame.iloc[:300])
    first = store.info("v00").path
    store.ingest(frame.iloc[:350][["timestamp", "v00"]])  # v00 grows: it moves; the bucket is 3/4 alive
    assert store.info("v00").path != first and {store.info(v).path for v in ("v01", "v02", "v03")} == {first}
    store.ingest(frame.iloc[:350][["timestamp", "v01", "v02"]])  # now 1/4 alive: v03 moves along
    paths = {store.info(v).path for v in store.variables}
    assert first not in paths and len(paths) == 3  # v00's bucket, v01 and v02's, and v03 moved to one of its own
    assert sorted(str(p.relative_to(tmp_path / "s")) for p in (tmp_path / "s" / "data").iterdir()) == sorted(paths)
    for name, rows in {"v00": 350, "v01": 350, "v02": 350, "v03": 300}.items():
        again = RecursiveDataStore(tmp_path / "s")
        np.testing.assert_array_equal(again.load(name).to_numpy(), frame[name].to_numpy()[:rows])
        assert again.info(name).count == rows


def test_a_store_of_a_file_per_variable_still_reads_and_moves_what_an_ingest_changes(tmp_path, frame):
    """Stores written before buckets: data/variable=<name>/part-0.parquet and a format 1 catalog."""
    import json

    root = tmp_path / "s"
    RecursiveDataStore(root, create=True).ingest(frame)
    catalog = json.loads((root / "catalog.json").read_text())
    for name, entry in catalog["variables"].items():
        directory = root / "data" / f"variable={name}"
        directory.mkdir(parents=True)
        rows = frame[["timestamp", name]].rename(columns={name: "value"})
        pq.write_table(pa.Table.from_pandas(rows.astype({"timestamp": "datetime64[ns]"}), preserve_index=False),
                       directory / "part-0.parquet", row_group_size=100)
        entry["path"] = f"data/variable={name}/part-0.parquet"
        del entry["row_groups"]
    for bucket in (root / "data").glob("bucket-*"):
        bucket.unlink()
    (root / "catalog.json").write_text(json.dumps({"format_version": 1, "variables": catalog["variables"]}))
    for cls in KINDS:
        store = cls(root, **({"cache": SegmentCache()} if cls is OptimizedDataStore else {}))
        assert store.info("walk").row_groups is None
        np.testing.assert_array_equal(store.load("walk", "2020-03-01", "2020-05-01").to_numpy(),
                                      frame.set_index("timestamp")["walk"]["2020-03-01":"2020-04-30"].to_numpy())
    more = daily_frame(650)[["timestamp", "walk"]]
    more["walk"] = np.r_[frame["walk"].to_numpy(), np.arange(50.0)]
    RecursiveDataStore(root).ingest(more)
    assert not (root / "data" / "variable=walk").joinpath("part-0.parquet").exists()  # moved, then deleted
    assert (root / "data" / "variable=sine" / "part-0.parquet").exists()  # untouched
    again = OptimizedDataStore(root, cache=SegmentCache())
    assert again.info("walk").path.startswith("data/bucket-") and again.info("walk").count == 650
    np.testing.assert_array_equal(again.load("walk").to_numpy(), more["walk"].to_numpy())
    np.testing.assert_array_equal(again.load("sine").to_numpy(), frame["sine"].to_numpy())
