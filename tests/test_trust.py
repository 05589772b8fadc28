"""Bayesian trust: the evidence ledger, posterior arithmetic, decay, identity, persistence."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from analytics import (
    EvidenceBlock,
    OptimizedTrustTracker,
    TrustKey,
    TrustUpdateBuffer,
    design_effect,
    pack_evidence,
    unpack_evidence,
)
from analytics.posterior import beta_interval, design_effects, segmented_design_effects
from recursive_training.base import TrustError

from .conftest import longhand_design_effect

DAY_NS = 86_400 * 10**9
KEY = TrustKey("x", "ar", "window=90D,lookback=365,refit_every=0", "horizon=2,step=1,tolerance=1.0,scale=naive-mae")


def block(origins, success, *, window=0, key=KEY, counted=None):
    """Evidence at daily origins (day numbers); targets are the following days."""
    success = np.asarray(success, dtype=bool).reshape(len(origins), -1)
    origins = np.asarray(origins, dtype=np.int64)
    h = success.shape[1]
    return EvidenceBlock(key, window, origins * DAY_NS, success,
                         np.ones_like(success) if counted is None else np.asarray(counted, dtype=bool),
                         (origins[:, None] + np.arange(1, h + 1)) * DAY_NS)


def test_all_successes_give_the_plain_beta_posterior():
    tracker = OptimizedTrustTracker()
    tracker.apply([block([0, 1], [[1, 1], [1, 1]], window=0), block([90], [[1, 1]], window=1)])
    est = tracker.estimate("x", "ar")
    assert est.design_effect == 1.0  # nothing varies, nothing to correct
    assert (est.alpha, est.beta) == (7.0, 1.0)  # Beta(1 + 6, 1 + 0)
    assert est.mean == pytest.approx(7 / 8)
    assert (est.successes, est.failures, est.origins, est.windows) == (6, 0, 3, 2)
    # P(Beta(a, 1) <= x) = x^a
    assert (est.low, est.high) == pytest.approx((0.025 ** (1 / 7), 0.975 ** (1 / 7)), abs=1e-12)
    assert [(s.step, s.successes, s.failures) for s in est.steps] == [(1, 3, 0), (2, 3, 0)]


def test_windows_that_agree_exactly_are_floored_then_widened():
    # two windows, each 3 of 4 points succeed: no variance between windows, so the floor of 1/4
    # applies, times the small-sample widening with (2 - 1) / 2 -> 1 degree of freedom
    tracker = OptimizedTrustTracker()
    tracker.apply([block([0, 1], [[1, 1], [1, 0]], window=0), block([90, 91], [[0, 1], [1, 1]], window=1)])
    est = tracker.estimate("x", "ar")
    d = 0.25 * (12.706204736174696 / 1.959963984540054) ** 2
    assert est.design_effect == pytest.approx(d)
    assert (est.alpha, est.beta) == pytest.approx((1 + 6 / d, 1 + 2 / d))
    assert [(s.step, s.successes, s.failures) for s in est.steps] == [(1, 3, 1), (2, 3, 1)]


def test_prior_is_used():
    tracker = OptimizedTrustTracker(prior_alpha=2, prior_beta=5)
    tracker.apply([block([0], [[1, 1]]), block([90], [[1, 0]], window=1)])
    est = tracker.estimate("x", "ar")
    assert est.design_effect > 1  # the windows disagree (1.0 vs 0.5)
    d = est.design_effect
    assert (est.alpha, est.beta) == pytest.approx((2 + 3 / d, 5 + 1 / d))


def test_design_effect_against_a_longhand_implementation():
    rng = np.random.default_rng(3)
    index = np.sort(rng.choice(40, size=30, replace=False))  # grid positions, with gaps
    windows = [list(rng.random(rng.integers(5, 40)) < rng.uniform(0.2, 0.9)) for _ in index]
    x = np.concatenate([np.array(w, dtype=float) for w in windows])
    cluster = np.repeat(index, [len(w) for w in windows])
    longhand = longhand_design_effect([(i, sum(w), len(w)) for i, w in zip(index, windows, strict=True)])
    assert design_effect(x, np.ones_like(x), cluster) == pytest.approx(longhand, rel=1e-12)
    assert longhand > 2  # windows with rates from 0.2 to 0.9 are far from binomial


def test_design_effects_of_many_columns_equal_the_longhand_of_each():
    rng = np.random.default_rng(5)
    index = np.sort(rng.choice(30, size=20, replace=False))
    sizes = rng.integers(3, 20, size=len(index))
    cluster = np.repeat(index, sizes)
    rates = rng.uniform(0.1, 0.9, size=(len(index), 4)).repeat(sizes, axis=0)
    x = (rng.random((len(cluster), 4)) < rates).astype(float)
    x = np.column_stack([x, np.zeros(len(cluster)), np.ones(len(cluster))])  # rates 0 and 1: effect 1
    effects = design_effects(x, np.ones_like(x), cluster)
    for column in range(x.shape[1]):
        hits = np.bincount(np.searchsorted(index, cluster), weights=x[:, column])
        longhand = longhand_design_effect([(i, h, n) for i, h, n in zip(index, hits, sizes, strict=True)])
        assert effects[column] == pytest.approx(longhand, rel=1e-12), column
    assert effects[-2:].tolist() == [1.0, 1.0]


def test_design_effects_do_not_depend_on_the_order_of_the_points():
    """Points with their clusters interleaved (summed cell by cell) give what the same points in cluster
    order give (summed by runs, as a tracker's are)."""
    rng = np.random.default_rng(6)
    cluster = np.repeat(np.arange(12), rng.integers(3, 12, size=12))
    rates = rng.uniform(0.2, 0.8, size=(12, 3)).repeat(np.bincount(cluster), axis=0)
    x = (rng.random(rates.shape) < rates).astype(float)
    weight = rng.uniform(0.5, 1.0, size=x.shape)
    in_order = design_effects(x, weight, cluster)
    shuffled = rng.permutation(len(cluster))
    assert design_effects(x[shuffled], weight[shuffled], cluster[shuffled]) == pytest.approx(in_order, rel=1e-12)
    assert (in_order > 1).all()  # the clusters' rates differ: the effects are not the trivial 1


def test_design_effects_of_many_keys_at_once_equal_the_longhand_of_each():
    """Keys computed together (a run's close) keep their windows apart: one key's highest window is never the
    neighbour of the next key's lowest, and a key of one window or of a rate of 0 keeps an effect of 1."""
    rng = np.random.default_rng(8)
    keys = []
    for first, count in ((3, 5), (11, 9), (0, 6), (10, 5)):  # the second key ends on the highest window, the
        index = np.arange(first, first + count)  # third starts on the lowest
        sizes = rng.integers(3, 15, size=len(index))
        keys.append((index, sizes, (rng.random(sizes.sum()) < rng.uniform(0.2, 0.8)).astype(float)))
    keys.append((np.array([5]), np.array([12]), (rng.random(12) < 0.5).astype(float)))  # one window
    keys.append((np.arange(3), np.array([4, 4, 4]), np.zeros(12)))  # never a success
    x = np.concatenate([k[2] for k in keys])[:, None]
    cluster = np.concatenate([np.repeat(index, sizes) for index, sizes, _ in keys])
    segment = np.repeat(np.arange(len(keys)), [sizes.sum() for _, sizes, _ in keys])
    effects = segmented_design_effects(x, np.ones_like(x), cluster, segment, len(keys))[:, 0]
    for at, (index, sizes, hits) in enumerate(keys[:4]):
        per_window = np.add.reduceat(hits, np.cumsum(sizes) - sizes)
        longhand = longhand_design_effect([(i, h, n) for i, h, n in zip(index, per_window, sizes, strict=True)])
        assert effects[at] == pytest.approx(longhand, rel=1e-12), at
    assert effects[4:].tolist() == [1.0, 1.0]


def test_each_forecast_counts_at_most_once_whatever_the_blocks():
    tracker = OptimizedTrustTracker()
    assert tracker.apply([block([0, 1, 2], [[1, 1], [0, 1], [1, 1]])]) == 3
    assert tracker.apply([block([0, 1, 2], [[1, 1], [0, 1], [1, 1]])]) == 0  # a rerun
    assert tracker.apply([block([2, 3], [[1, 1], [0, 0]])]) == 1  # overlapping: only origin 3 is new
    est = tracker.estimate("x", "ar")
    assert (est.successes, est.failures, est.origins) == (5, 3, 4)


def test_keys_never_pool():
    tracker = OptimizedTrustTracker()
    other_spec = TrustKey("x", "ar(order=3)", KEY.schedule, KEY.context)
    other_context = TrustKey("x", "ar", KEY.schedule, KEY.context.replace("horizon=2", "horizon=3"))
    other_schedule = TrustKey("x", "ar", KEY.schedule.replace("90D", "30D"), KEY.context)
    tracker.apply([block([0], [[1, 1]]), block([0], [[0, 0]], key=other_spec),
                   block([0], [[1, 0, 0]], key=other_context), block([0], [[0, 1]], key=other_schedule)])
    by_key = {e.key: (e.successes, e.failures) for e in tracker.estimates()}
    assert by_key == {KEY: (2, 0), other_spec: (0, 2), other_context: (1, 2), other_schedule: (1, 1)}
    with pytest.raises(TrustError, match="several schedules or contexts"):
        tracker.estimate("x", "ar")
    assert [e.key for e in tracker.estimates([other_spec])] == [other_spec]
    # keys asked for are looked up alone: sorted, each once, one never stored left out, the same estimates
    assert tracker.keys(variable="x", spec="ar") == sorted([KEY, other_context, other_schedule])
    assert tracker.keys(spec="ar(order=3)") == [other_spec] and tracker.keys(variable="y") == []
    never = TrustKey("y", "ar", KEY.schedule, KEY.context)
    assert tracker.estimates([other_context, never, KEY, other_context]) == [
        e for e in tracker.estimates() if e.key in (KEY, other_context)]


def test_trust_read_in_many_small_passes_equals_one_pass(monkeypatch):
    """A run's close reads its keys' evidence in bounded passes: the passes' sizes change nothing, to the bit."""
    import analytics.optimized_trust_tracker as tracker_module

    rng = np.random.default_rng(11)
    tracker = OptimizedTrustTracker(decay_half_life_days=30.0)
    blocks = []
    for k in range(9):
        key = TrustKey(f"v{k}", "ar", KEY.schedule, KEY.context.replace("horizon=2", f"horizon={1 + k % 3}"))
        for window in range(1 + k % 4):
            origins = np.arange(window * 40, window * 40 + rng.integers(5, 30))
            success = rng.random((len(origins), 1 + k % 3)) < rng.uniform(0.2, 0.9)
            blocks.append(block(origins, success, window=window, key=key,
                                counted=rng.random(success.shape) < 0.9))
    tracker.apply(blocks)
    at_once = tracker.estimates()
    monkeypatch.setattr(tracker_module, "KEYS_PER_READ", 2)
    monkeypatch.setattr(tracker_module, "POINTS_PER_PASS", 40)  # a pass of one or two keys
    assert tracker.estimates() == at_once and len(at_once) == 9
    assert tracker.estimates([at_once[4].key, at_once[7].key]) == [at_once[4], at_once[7]]


def test_repeated_pairs_count_once_overall_but_every_step_counts_in_its_step():
    tracker = OptimizedTrustTracker()
    tracker.apply([block([0, 1], [[1, 1], [1, 0]], counted=[[1, 1], [0, 1]])])
    est = tracker.estimate("x", "ar")
    assert (est.successes, est.failures) == (2, 1)  # the repeated point (origin 1, step 1) is left out
    assert [(s.successes, s.failures) for s in est.steps] == [(2, 0), (1, 1)]


def test_an_estimate_as_a_dict_is_what_dataclasses_asdict_gives_and_reads_back():
    from dataclasses import asdict

    tracker = OptimizedTrustTracker()
    tracker.apply([block([0, 1, 2], [[1, 1], [1, 0], [0, 0]])])
    est = tracker.estimate("x", "ar")
    longhand = asdict(est)  # the deep-copying conversion it replaced: the key's fields last
    longhand.pop("key")
    longhand.update(asdict(est.key))
    assert list(est.to_dict().items()) == list(longhand.items())  # the same keys, in the same order
    assert len(est.steps) == 2 and est.to_dict()["steps"][1]["failures"] == 2
    assert type(est).from_dict(est.to_dict()) == est


def test_decay_by_target_time_and_order_independence():
    half_life = 10.0
    # every point succeeds, so the design effect is 1 and alpha is 1 + the sum of the weights
    blocks = [block([0], [[1, 1]], window=0), block([9], [[1, 1]], window=1), block([28], [[1, 1]], window=2)]
    forward = OptimizedTrustTracker(decay_half_life_days=half_life)
    for b in blocks:
        forward.apply([b])
    backward = OptimizedTrustTracker(decay_half_life_days=half_life)
    backward.apply(blocks[::-1])
    targets = [1, 2, 10, 11, 29, 30]  # each point is dated by its own target; the newest is day 30
    alpha = 1 + sum(0.5 ** ((30 - t) / half_life) for t in targets)
    for tracker in (forward, backward):
        est = tracker.estimate("x", "ar")
        assert est.alpha == pytest.approx(alpha) and est.beta == 1.0


def test_persisted_in_sqlite_and_shared_by_trackers(tmp_path):
    db = tmp_path / "trust.sqlite"
    with OptimizedTrustTracker(db) as first, OptimizedTrustTracker(db) as second:
        first.apply([block([0, 1], [[1, 1], [1, 0]])])
        assert second.apply([block([1, 2], [[1, 0], [0, 0]])]) == 1
        assert first.estimate("x", "ar").origins == 3  # reads what the other wrote
        assert first.apply([block([2, 3], [[0, 0], [1, 1]])]) == 1  # knows origin 2 came from the other
    with OptimizedTrustTracker(db, decay_half_life_days=7.0) as later:  # decay is applied when reading
        assert later.estimate("x", "ar").successes == 5
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_writers_add_up(tmp_path):
    """Four writers with overlapping evidence at once end with the union, each origin once."""
    db = tmp_path / "trust.sqlite"
    start = threading.Barrier(4)

    def writer(offset):
        with OptimizedTrustTracker(db) as tracker:
            start.wait()
            for at in range(0, 200, 10):
                origins = np.arange(offset + at, offset + at + 10)
                tracker.apply([block(origins, (origins[:, None] + np.arange(2)) % 3 == 0, window=int(at // 50))])

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 50, 100, 150)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    est = OptimizedTrustTracker(db).estimate("x", "ar")
    origins = np.arange(350)
    expected = int(((origins[:, None] + np.arange(2)) % 3 == 0).sum())
    assert est.origins == 350 and est.successes == expected and est.failures == 700 - expected


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"this is not sqlite at all" * 100, "not a database"),
])
def test_bad_files_are_refused_not_reset(tmp_path, content, message):
    db = tmp_path / "trust.sqlite"
    db.write_bytes(content)
    with pytest.raises(TrustError, match=message):
        OptimizedTrustTracker(db)
    assert db.read_bytes() == content


def test_a_truncated_database_is_refused(tmp_path):
    db = tmp_path / "trust.sqlite"
    with OptimizedTrustTracker(db) as tracker:
        tracker.apply([block(np.arange(i * 300, i * 300 + 300), np.ones((300, 2)), window=i) for i in range(20)])
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
    size = db.stat().st_size
    with open(db, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(TrustError, match=str(db)):
        OptimizedTrustTracker(db).estimates()


def test_the_old_schema_is_refused_with_advice(tmp_path):
    db = tmp_path / "trust.sqlite"
    old = sqlite3.connect(db)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE trust (variable TEXT, model TEXT, alpha_evidence REAL, beta_evidence REAL, t_ref REAL,
                            successes INTEGER, failures INTEGER, updates INTEGER, PRIMARY KEY (variable, model));
        CREATE TABLE applied (update_id TEXT, variable TEXT, model TEXT, PRIMARY KEY (update_id, variable, model));
        INSERT INTO trust VALUES ('x', 'ar', 5, 2, 1.0, 5, 2, 1);
    """)
    old.commit()
    old.close()
    with pytest.raises(TrustError, match="older version.*move it aside"):
        OptimizedTrustTracker(db)
    assert sqlite3.connect(db).execute("SELECT successes FROM trust").fetchone() == (5,)  # untouched


def test_another_schema_is_refused(tmp_path):
    db = tmp_path / "other.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE songs (title TEXT)").connection.commit()
    with pytest.raises(TrustError, match="not a trust database of this version"):
        OptimizedTrustTracker(db)


def test_evidence_blocks_round_trip_through_json():
    original = block([3, 4, 6], [[1, 0], [0, 1], [1, 1]], counted=[[1, 1], [0, 1], [1, 0]], window=7)
    back = EvidenceBlock.from_dict(original.to_dict())
    assert back.key == original.key and back.window == 7
    for name in ("origins", "success", "counted", "targets"):
        np.testing.assert_array_equal(getattr(back, name), getattr(original, name))


def evidence_samples() -> list[EvidenceBlock]:
    """Blocks that packing must keep apart: flags of 2 and of 9 steps (a row past one byte), errors with a NaN
    and none at all, and an empty block."""
    errors = np.array([[0.5, -1.25], [np.nan, 2.0], [3.0, -0.125]])
    rng = np.random.default_rng(3)
    return [block([3, 4, 6], [[1, 0], [0, 1], [1, 1]], counted=[[1, 1], [0, 1], [1, 0]], window=7),
            EvidenceBlock(TrustKey("v", "m", "s", "c"), 2, np.array([10, 11, 12]), np.ones((3, 2), bool),
                          np.zeros((3, 2), bool), np.array([[11, 12], [12, 13], [13, 14]]), errors),
            EvidenceBlock(TrustKey("w", "m", "s", "c"), 0, np.zeros(0, np.int64), np.zeros((0, 3), bool),
                          np.zeros((0, 3), bool), np.zeros((0, 3), np.int64), np.zeros((0, 3))),
            EvidenceBlock(TrustKey("w", "n", "s", "c"), 5, np.array([20, 21]), rng.random((2, 9)) > 0.5,
                          rng.random((2, 9)) > 0.5, np.array([np.arange(21, 30), np.arange(22, 31)]),
                          rng.normal(size=(2, 9)))]


def assert_same_blocks(back, original, *, read_only: bool = True) -> None:
    assert len(back) == len(original)
    for mine_block, their_block in zip(back, original):
        assert mine_block.key == their_block.key and mine_block.window == their_block.window
        for name in ("origins", "success", "counted", "targets", "errors"):
            mine, theirs = getattr(mine_block, name), getattr(their_block, name)
            if theirs is None:
                assert mine is None
                continue
            np.testing.assert_array_equal(mine, theirs)
            assert mine.dtype.kind == theirs.dtype.kind and mine.shape == theirs.shape
            assert not (read_only and mine.flags.writeable)  # unpickled evidence is never changed in place


def test_evidence_blocks_pickle_whole_as_bytes_without_out_of_band_buffers():
    """How results cross from a worker to the coordinator: one pickle, not an out-of-band buffer per array."""
    import pickle

    for original in evidence_samples():
        buffers = []
        back = pickle.loads(pickle.dumps(original, protocol=5, buffer_callback=buffers.append), buffers=buffers)
        assert buffers == []
        assert_same_blocks([back], [original])


def test_evidence_packed_together_unpacks_block_by_block():
    """A batch's blocks travel packed together and come back each as it was, whatever its horizon."""
    original = evidence_samples()
    assert_same_blocks(unpack_evidence(pack_evidence(original)), original)
    assert unpack_evidence(pack_evidence([])) == ()


def eventually(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_buffer_flushes_at_size_in_its_own_thread_and_counts_duplicates():
    tracker = OptimizedTrustTracker()
    with TrustUpdateBuffer(tracker, max_blocks=3, max_age_seconds=60) as buffer:
        buffer.add([block([1], [[1, 0]]), block([2], [[1, 0]])])
        time.sleep(0.1)
        assert tracker.estimate("x", "ar") is None and buffer.pending == 2
        buffer.add([block([1], [[1, 0]]), block([3], [[1, 0]])])  # origin 1 again is ignored
        assert eventually(lambda: buffer.pending == 0 and tracker.estimate("x", "ar") is not None)
        assert tracker.estimate("x", "ar").successes == 3
        assert buffer.duplicates_ignored == 1
        buffer.add([block([4], [[1, 0]])])
    assert tracker.estimate("x", "ar").successes == 4  # flushed on close


def test_buffer_flushes_by_age():
    tracker = OptimizedTrustTracker()
    buffer = TrustUpdateBuffer(tracker, max_blocks=1000, max_age_seconds=0.2)
    buffer.add([block([1], [[1, 1]])])
    deadline = threading.Event()
    for _ in range(50):
        if tracker.estimate("x", "ar") is not None:
            break
        deadline.wait(0.05)
    assert tracker.estimate("x", "ar").successes == 2
    buffer.close()


def test_adding_waits_for_the_database_only_when_far_behind():
    tracker = OptimizedTrustTracker()
    with TrustUpdateBuffer(tracker, max_blocks=2, max_age_seconds=60) as buffer:
        with tracker._lock:  # the database is busy: nothing can be applied
            adding = threading.Thread(target=buffer.add, args=([block([1], [[1, 0]]), block([2], [[1, 0]]),
                                                                block([3], [[1, 0]])],))
            adding.start()
            adding.join(timeout=2.0)
            assert not adding.is_alive()  # past max_blocks, yet it returned at once: the flusher waits instead
        buffer.add([block(range(10, 20), [[1, 0]] * 10)] * 8)  # 4 x max_blocks waiting: applied here
        assert buffer.pending == 0 and tracker.estimate("x", "ar").origins == 13


def test_buffer_is_thread_safe():
    tracker = OptimizedTrustTracker()
    buffer = TrustUpdateBuffer(tracker, max_blocks=7, max_age_seconds=0.05)

    def producer(worker):
        for i in range(200):  # every origin is sent twice, from two threads
            buffer.add([block([i], [[1, 0]], key=TrustKey(f"v{worker % 2}", KEY.spec, KEY.schedule, KEY.context))])

    threads = [threading.Thread(target=producer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    buffer.close()
    for variable in ("v0", "v1"):
        est = tracker.estimate(variable, "ar")
        assert (est.successes, est.failures, est.origins) == (200, 200, 200)
    assert buffer.duplicates_ignored == 400


def test_the_light_quantile_functions_equal_scipy_stats():
    """posterior.py calls scipy.special's quantiles (scipy.stats costs 0.8 s to import in every process)."""
    from scipy.stats import beta as beta_distribution

    rng = np.random.default_rng(0)
    alpha, beta = rng.uniform(0.5, 5000, 500), rng.uniform(0.5, 5000, 500)
    low, high = beta_interval(alpha, beta)
    expected_low, expected_high = beta_distribution.ppf([[0.025], [0.975]], alpha, beta)
    np.testing.assert_allclose(low, expected_low, rtol=1e-12)
    np.testing.assert_allclose(high, expected_high, rtol=1e-12)
    assert np.all(low < alpha / (alpha + beta)) and np.all(alpha / (alpha + beta) < high)


def with_errors(evidence: EvidenceBlock, errors) -> EvidenceBlock:
    import dataclasses

    return dataclasses.replace(evidence, errors=np.asarray(errors, dtype=float))


def test_forecast_errors_are_kept_once_per_forecast_and_round_trip_exactly():
    tracker = OptimizedTrustTracker()
    errors = [[0.1, -2.5], [1 / 3, 7e-300]]
    assert tracker.apply([with_errors(block([0, 1], [[1, 1], [1, 0]]), errors)]) == 2
    assert tracker.apply([with_errors(block([1, 2], [[1, 0], [0, 0]]), [[9.0, 9.0], [4.0, -4.0]])]) == 1
    kept = tracker.forecast_errors(KEY)
    np.testing.assert_array_equal(kept.origins, np.array([0, 1, 2]) * DAY_NS)
    np.testing.assert_array_equal(kept.errors, [[0.1, -2.5], [1 / 3, 7e-300], [4.0, -4.0]])  # origin 1: the first
    np.testing.assert_array_equal(kept.targets, (np.array([[1, 2], [2, 3], [3, 4]])) * DAY_NS)
    assert kept.counted.all() and tracker.forecast_errors(TrustKey("y", "ar", "s", "c")).errors.shape == (0, 0)
    back = EvidenceBlock.from_dict(with_errors(block([5, 6], [[1, 1], [0, 1]]), errors).to_dict())
    np.testing.assert_array_equal(back.errors, errors)  # bit for bit through the journal's JSON
    assert EvidenceBlock.from_dict(block([5], [[1, 1]]).to_dict()).errors is None


def test_evidence_kept_without_errors_is_filled_in_by_a_rerun_and_counted_once():
    tracker = OptimizedTrustTracker()
    tracker.apply([block([0, 1], [[1, 1], [0, 1]])])  # journalled before errors were kept
    assert np.isnan(tracker.forecast_errors(KEY).errors).all()
    before = tracker.estimates()[0]
    assert tracker.apply([with_errors(block([0, 1], [[1, 1], [0, 1]]), [[1.0, 2.0], [3.0, 4.0]])]) == 0
    np.testing.assert_array_equal(tracker.forecast_errors(KEY).errors, [[1.0, 2.0], [3.0, 4.0]])
    assert tracker.estimates()[0] == before  # the trust itself did not change


def row_per_origin_database(path, version: str) -> sqlite3.Connection:
    """A trust database as versions 2 (without the errors column) and 3 left it: a row per origin, with KEY
    as key 1; the caller adds rows and commits."""
    old = sqlite3.connect(path)
    old.executescript(f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE trust_keys (
            key_id INTEGER PRIMARY KEY, variable TEXT NOT NULL, spec TEXT NOT NULL, schedule TEXT NOT NULL,
            context TEXT NOT NULL, horizon INTEGER NOT NULL, UNIQUE (variable, spec, schedule, context));
        CREATE TABLE evidence (
            key_id INTEGER NOT NULL, origin INTEGER NOT NULL, grid_window INTEGER NOT NULL,
            success BLOB NOT NULL, counted BLOB NOT NULL, targets BLOB NOT NULL{", errors BLOB" * (version == "3")},
            PRIMARY KEY (key_id, origin)) WITHOUT ROWID;
        INSERT INTO meta VALUES ('schema_version', '{version}');
    """)
    old.execute("INSERT INTO trust_keys VALUES (1, ?, ?, ?, ?, 2)", (KEY.variable, KEY.spec, KEY.schedule, KEY.context))
    return old


def test_a_version_2_database_is_converted_to_blocks_and_keeps_its_evidence(tmp_path):
    db = tmp_path / "trust.sqlite"
    old = row_per_origin_database(db, "2")
    old.execute("INSERT INTO evidence VALUES (1, 0, 0, ?, ?, ?)",  # origin day 0: both steps right
                (np.packbits([[1, 1]], axis=1).tobytes(), np.packbits([[1, 1]], axis=1).tobytes(),
                 (np.array([1, 2], dtype=np.int64) * DAY_NS).tobytes()))
    old.commit()
    old.close()
    with OptimizedTrustTracker(db) as tracker:
        assert sqlite3.connect(db).execute("SELECT value FROM meta").fetchone() == ("4",)
        assert np.isnan(tracker.forecast_errors(KEY).errors).all()
        assert tracker.apply([with_errors(block([0, 1], [[1, 1], [0, 1]]), [[0.5, 0.25], [2.0, 1.0]])]) == 1
        reference = OptimizedTrustTracker()
        reference.apply([block([0, 1], [[1, 1], [0, 1]])])
        assert tracker.estimates() == reference.estimates()  # the old evidence counts, once
        np.testing.assert_array_equal(tracker.forecast_errors(KEY).errors, [[0.5, 0.25], [2.0, 1.0]])


def test_a_version_3_database_is_regrouped_into_blocks_with_the_same_trust_and_errors(tmp_path):
    """A row per origin (version 3), over two windows, some rows without errors: converted in place."""
    db = tmp_path / "trust.sqlite"
    old = row_per_origin_database(db, "3")
    success = [[1, 0], [1, 1], [0, 0], [1, 1], [0, 1]]
    errors = [[0.5, 1.5], None, [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]  # origin 1 kept before errors were
    for day, (hits, error) in enumerate(zip(success, errors)):
        old.execute("INSERT INTO evidence VALUES (1, ?, ?, ?, ?, ?, ?)", (
            day * DAY_NS, day // 3, np.packbits([hits], axis=1).tobytes(), np.packbits([[1, 1]], axis=1).tobytes(),
            (np.array([day + 1, day + 2], dtype=np.int64) * DAY_NS).tobytes(),
            None if error is None else np.array(error, dtype="<f8").tobytes()))
    old.commit()
    old.close()
    reference = OptimizedTrustTracker()
    reference.apply([block([0, 1, 2], success[:3], window=0), block([3, 4], success[3:], window=1)])
    with OptimizedTrustTracker(db) as tracker:
        converted = sqlite3.connect(db)
        assert converted.execute("SELECT value FROM meta").fetchone() == ("4",)
        assert {r[0] for r in converted.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {
            "meta", "trust_keys", "evidence_blocks"}
        # window 0 splits where errors were not kept: [0], [1], [2]; window 1 is one block
        assert converted.execute("SELECT COUNT(*) FROM evidence_blocks").fetchone() == (4,)
        assert tracker.estimates() == reference.estimates()
        kept = tracker.forecast_errors(KEY)
        np.testing.assert_array_equal(kept.origins, np.arange(5) * DAY_NS)
        np.testing.assert_array_equal(kept.errors, [e or [np.nan, np.nan] for e in errors])
        assert tracker.apply([block([1, 5], [[1, 1], [1, 1]])]) == 1  # origin 1 is held; only 5 is new


def test_a_stored_block_lacking_errors_is_split_where_a_rerun_covers_part_of_it():
    tracker = OptimizedTrustTracker()
    tracker.apply([block([0, 1, 2, 3], [[1, 1], [0, 1], [1, 0], [0, 0]])])  # journalled before errors were kept
    before = tracker.estimates()
    assert tracker.apply([with_errors(block([2, 3, 4], [[1, 0], [0, 0], [1, 1]]),
                                      [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])]) == 1
    np.testing.assert_array_equal(tracker.forecast_errors(KEY).errors[:4],
                                  [[np.nan, np.nan], [np.nan, np.nan], [1.0, 2.0], [3.0, 4.0]])
    assert tracker.apply([with_errors(block([0], [[1, 1]]), [[7.0, 8.0]])]) == 0
    np.testing.assert_array_equal(tracker.forecast_errors(KEY).errors,
                                  [[7.0, 8.0], [np.nan, np.nan], [1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    reference = OptimizedTrustTracker()
    reference.apply([block([0, 1, 2, 3, 4], [[1, 1], [0, 1], [1, 0], [0, 0], [1, 1]])])
    assert tracker.estimates() == reference.estimates() and before != tracker.estimates()


def test_any_blocks_in_any_groups_store_what_the_first_forecast_of_each_origin_says():
    """Against a second, plain implementation: a dictionary from origin to its first forecast's outcome."""
    rng = np.random.default_rng(7)
    for trial in range(20):
        tracker, first_seen = OptimizedTrustTracker(), {}
        keys = [KEY, TrustKey("y", "ar", KEY.schedule, KEY.context)]
        for _ in range(int(rng.integers(1, 5))):  # transactions
            group = []
            for _ in range(int(rng.integers(1, 6))):  # blocks in one transaction
                key = keys[int(rng.integers(2))]
                origins = np.unique(rng.integers(0, 40, size=int(rng.integers(1, 9))))
                success = rng.random((len(origins), 2)) < 0.6
                errors = rng.normal(size=(len(origins), 2)) if rng.random() < 0.7 else None
                window = int(origins[0] // 10)
                order = rng.permutation(len(origins)) if rng.random() < 0.2 else np.arange(len(origins))  # unsorted
                made = block(origins[order], success[order], window=window, key=key)
                group.append(made if errors is None else with_errors(made, errors[order]))
                for i, o in enumerate(origins.tolist()):
                    outcome = first_seen.setdefault((key, o), [success[i], window, None])
                    if outcome[2] is None and errors is not None:
                        outcome[2] = errors[i]  # the same forecast's errors fill in what was not kept
            tracker.apply(group)
        reference = OptimizedTrustTracker()
        for key in keys:
            held = sorted((o, v) for (k, o), v in first_seen.items() if k == key)
            for window in {v[1] for _, v in held}:  # a block per window: the window decides the design effect
                origins = [o for o, v in held if v[1] == window]
                reference.apply([block(origins, [v[0] for o, v in held if v[1] == window], window=window, key=key)])
            kept = tracker.forecast_errors(key)
            np.testing.assert_array_equal(kept.origins, np.array([o for o, _ in held], dtype=np.int64) * DAY_NS)
            if held:
                np.testing.assert_array_equal(kept.errors, [np.full(2, np.nan) if v[2] is None else v[2]
                                                            for _, v in held])
        assert tracker.estimates() == reference.estimates(), trial


def test_a_tracker_loads_the_quantile_functions_before_anyone_reads_trust():
    """A run reads trust when it closes; scipy's quantile functions (0.2 s to import) must be loaded by then,
    in the background, not imported at that moment. In a fresh interpreter, where nothing imported them."""
    import subprocess
    import sys

    script = ("import sys, time\n"
              "from analytics import OptimizedTrustTracker\n"
              "assert 'scipy.special' not in sys.modules\n"
              "OptimizedTrustTracker(None)\n"
              "deadline = time.monotonic() + 30\n"
              "while 'scipy.special' not in sys.modules and time.monotonic() < deadline:\n"
              "    time.sleep(0.01)\n"
              "print('scipy.special' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
