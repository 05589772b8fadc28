"""Bayesian trust: posterior arithmetic, decay, idempotence, persistence."""

from __future__ import annotations

import math
import threading

import pytest

from analytics import OptimizedTrustTracker, TrustUpdate, TrustUpdateBuffer
from recursive_training.errors import TrustError


def update(uid, s, f, t=0.0, variable="x", model="ar"):
    return TrustUpdate(uid, variable, model, s, f, t)


def binomial_upper_tail(n, p, k):
    """P(Binomial(n, p) >= k), summed term by term."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def test_posterior_mean_and_interval():
    tracker = OptimizedTrustTracker()
    tracker.apply([update("b1", 7, 2), update("b2", 1, 0)])
    est = tracker.estimate("x", "ar")
    # Beta(1 + 8, 1 + 2) = Beta(9, 3)
    assert (est.alpha, est.beta) == (9.0, 3.0)
    assert est.mean == pytest.approx(9 / 12)
    assert (est.successes, est.failures, est.updates) == (8, 2, 2)
    # For integer a, b: P(Beta(a, b) <= x) = P(Binomial(a + b - 1, x) >= a)
    assert binomial_upper_tail(11, est.low, 9) == pytest.approx(0.025, abs=1e-9)
    assert binomial_upper_tail(11, est.high, 9) == pytest.approx(0.975, abs=1e-9)


def test_prior_is_used():
    tracker = OptimizedTrustTracker(prior_alpha=2, prior_beta=5)
    tracker.apply([update("b", 3, 0)])
    assert tracker.estimate("x", "ar").mean == pytest.approx(5 / 10)


def test_each_update_counts_at_most_once():
    tracker = OptimizedTrustTracker()
    assert tracker.apply([update("b1", 5, 5), update("b1", 5, 5)]) == 1
    assert tracker.apply([update("b1", 5, 5)]) == 0
    assert tracker.apply([update("b1", 1, 0, model="naive")]) == 1  # another key of the same batch
    assert tracker.estimate("x", "ar").alpha == 6.0


def test_decay_by_hand_and_order_independence():
    half_life = 10.0
    updates = [update("a", 4, 0, t=0.0), update("b", 0, 2, t=10.0), update("c", 2, 2, t=30.0)]
    forward = OptimizedTrustTracker(decay_half_life_days=half_life)
    for u in updates:
        forward.apply([u])
    backward = OptimizedTrustTracker(decay_half_life_days=half_life)
    backward.apply(updates[::-1])
    # relative to the newest evidence (t = 30): weights 1/8, 1/4, 1
    alpha = 1 + 4 / 8 + 0 / 4 + 2
    beta = 1 + 0 / 8 + 2 / 4 + 2
    for tracker in (forward, backward):
        est = tracker.estimate("x", "ar")
        assert est.alpha == pytest.approx(alpha)
        assert est.beta == pytest.approx(beta)


def test_keys_are_independent_and_vectorised_apply_matches_one_by_one():
    updates = [update(f"b{i}", i % 3, 1 + i % 2, t=float(i), variable=f"v{i % 4}", model=("ar", "naive")[i % 2])
               for i in range(40)]
    together = OptimizedTrustTracker(decay_half_life_days=5.0)
    together.apply(updates)
    single = OptimizedTrustTracker(decay_half_life_days=5.0)
    for u in updates:
        single.apply([u])
    for a, b in zip(together.estimates(), single.estimates()):
        assert (a.variable, a.model) == (b.variable, b.model)
        assert a.alpha == pytest.approx(b.alpha) and a.beta == pytest.approx(b.beta)
    assert len(together.estimates()) == 4


def test_persisted_in_sqlite_across_runs(tmp_path):
    db = tmp_path / "trust.sqlite"
    with OptimizedTrustTracker(db, decay_half_life_days=30.0) as first:
        first.apply([update("b1", 3, 1, t=5.0)])
    with OptimizedTrustTracker(db, decay_half_life_days=30.0) as second:
        assert second.apply([update("b1", 3, 1, t=5.0)]) == 0  # applied in the earlier run
        second.apply([update("b2", 1, 1, t=35.0)])
        est = second.estimate("x", "ar")
    assert est.alpha == pytest.approx(1 + 3 * 0.5 + 1)
    assert est.beta == pytest.approx(1 + 1 * 0.5 + 1)
    import sqlite3
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_changed_decay_is_refused(tmp_path):
    OptimizedTrustTracker(tmp_path / "t.sqlite").close()
    with pytest.raises(TrustError, match="half-life"):
        OptimizedTrustTracker(tmp_path / "t.sqlite", decay_half_life_days=7.0)


def test_buffer_flushes_at_size_and_dedupes():
    tracker = OptimizedTrustTracker()
    with TrustUpdateBuffer(tracker, max_updates=3, max_age_seconds=60) as buffer:
        buffer.add([update("b1", 1, 0), update("b2", 1, 0)])
        assert tracker.estimate("x", "ar") is None and buffer.pending == 2
        buffer.add([update("b1", 1, 0), update("b3", 1, 0)])  # b1 again is ignored
        assert buffer.pending == 0
        assert tracker.estimate("x", "ar").successes == 3
        assert buffer.duplicates_ignored == 1
        buffer.add([update("b4", 1, 0)])
    assert tracker.estimate("x", "ar").successes == 4  # flushed on close


def test_buffer_flushes_by_age():
    tracker = OptimizedTrustTracker()
    buffer = TrustUpdateBuffer(tracker, max_updates=1000, max_age_seconds=0.2)
    buffer.add([update("b1", 2, 0)])
    deadline = threading.Event()
    for _ in range(50):
        if tracker.estimate("x", "ar") is not None:
            break
        deadline.wait(0.05)
    assert tracker.estimate("x", "ar").successes == 2
    buffer.close()


def test_buffer_is_thread_safe():
    tracker = OptimizedTrustTracker()
    buffer = TrustUpdateBuffer(tracker, max_updates=7, max_age_seconds=0.05)

    def producer(worker):
        for i in range(200):
            # every update is sent twice, from two threads
            buffer.add([update(f"b{i}", 1, 1, variable=f"v{worker % 2}")])

    threads = [threading.Thread(target=producer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    buffer.close()
    for variable in ("v0", "v1"):
        est = tracker.estimate(variable, "ar")
        assert (est.successes, est.failures, est.updates) == (200, 200, 200)
