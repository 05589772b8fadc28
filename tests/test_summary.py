"""The run summary tallied as results arrive: exact, whatever the order, and keeping nothing of a result."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from recursive_training.outcomes import BatchResult, VariableOutcome
from recursive_training.retrodiction import ScorePool, pool_scores, score_window
from recursive_training.summary import SHOWN_WINDOWS, RunTally

KEEP = {("x", "naive"), ("x", "ar"), ("y", "naive")}


def window_points(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    origins = int(rng.integers(1, 6))
    forecasts, actuals = rng.normal(size=(origins, 3)) * 10.0 ** rng.integers(-3, 4), rng.normal(size=(origins, 3))
    return forecasts, actuals, rng.normal(size=(origins, 3))


def result(window: int, outcomes: list[VariableOutcome], batch: str = "b") -> BatchResult:
    start, end = f"2020-{window + 1:02d}-01T00:00:00", f"2020-{window + 2:02d}-01T00:00:00"
    return BatchResult(f"{batch}{window}", start, end, window, ("x", "y"), tuple(outcomes), (), 0, None, 0.0, 0.0,
                       0.0, "in-process")


def scored(variable: str, model: str, seed: int, status: str = "scored") -> VariableOutcome:
    return VariableOutcome(variable, model, status, score_window(*window_points(seed), 0.8, 1.0))


def test_pooling_is_exact_whatever_the_order_and_merging_pools_equals_pooling_all():
    scores = [score_window(*window_points(seed), 0.5 + seed % 3, 1.0) for seed in range(60)]
    pooled = pool_scores(scores)
    for seed in range(5):
        shuffled = random.Random(seed).sample(scores, len(scores))
        assert pool_scores(shuffled) == pooled  # bit for bit, not approximately
    halves = ScorePool()
    for part in (scores[:23], scores[23:]):
        pool = ScorePool()
        for score in part:
            pool.add(score)
        halves.merge(pool)
    assert halves.pooled() == pooled
    # against a second, plain computation: point-weighted means, each metric over the windows defining it
    weights = np.array([s.n for s in scores], dtype=float)
    assert pooled.mae == pytest.approx(np.dot([s.mae for s in scores], weights) / weights.sum(), rel=1e-12)
    assert pooled.rmse == pytest.approx(math.sqrt(np.dot([s.rmse**2 for s in scores], weights) / weights.sum()),
                                        rel=1e-12)
    assert (pooled.n, pooled.successes) == (sum(s.n for s in scores), sum(s.successes for s in scores))


def test_an_infinite_error_makes_the_pool_infinite_as_a_plain_sum_would():
    finite = score_window(*window_points(1), 1.0, 1.0)
    infinite = score_window(np.array([[np.inf]]), np.array([[0.0]]), np.array([[0.0]]), 1.0, 1.0)
    assert pool_scores([finite, infinite]).mae == math.inf and pool_scores([infinite, finite]).mae == math.inf
    assert infinite.smape == 200.0  # |f - a| / (|f| + |a|) tends to 1 as the forecast grows without bound


def test_the_summary_does_not_depend_on_the_order_results_arrive_in():
    results = [result(w, [scored("x", "naive", w), scored("x", "ar", 100 + w), scored("y", "naive", 200 + w)])
               for w in range(10)]
    reference = RunTally()
    for each in results:
        reference.add(each)
    want = reference.summarise([], KEEP)
    for seed in range(3):
        tally = RunTally()
        for each in random.Random(seed).sample(results, len(results)):
            tally.add(each)
        got = tally.summarise([], KEEP)
        assert got == want
    variables, per_model, failures = want
    assert variables["x"]["ar"].windows_scored == 10 and failures == ()
    assert per_model["naive"].variables == 2 and per_model["naive"].scores == pool_scores(
        [o.score for r in results for o in r.outcomes if o.model == "naive"])
    assert "ar" in variables["x"] and ("y", "ar") not in {(v, m) for v, pairs in variables.items() for m in pairs}


def test_a_failure_that_a_later_attempt_scored_is_history_and_others_are_listed_in_time_order():
    tally = RunTally()
    failed = VariableOutcome("x", "ar", "failed", reason="singular matrix")
    for window in (5, 2, 7):  # an earlier attempt: three windows failed
        tally.add(result(window, [failed], batch="first"))
    tally.add(result(5, [scored("x", "ar", 5)], batch="second"))  # a resume scored one of them
    variables, per_model, failures = tally.summarise([], KEEP)
    pair = variables["x"]["ar"]
    assert (pair.windows_scored, pair.windows_failed) == (1, 2)
    assert failures == ("x / ar 2020-03-01..2020-04-01: singular matrix", "x / ar 2020-08-01..2020-09-01: singular matrix")


def test_skipped_windows_are_all_counted_and_the_earliest_are_named():
    tally = RunTally()
    windows = random.Random(4).sample(range(10), 10)
    for window in windows:
        tally.add(result(window, [VariableOutcome("y", "naive", "skipped", reason=f"too short {window}")]))
    pair = tally.summarise([], KEEP)[0]["y"]["naive"]
    assert pair.windows_skipped == 10 and pair.scores is None
    assert [where.split(": ")[1] for where in pair.skipped] == [f"too short {w}" for w in range(SHOWN_WINDOWS)]


def test_a_result_pickles_with_its_evidence_packed_and_its_worker_made_texts():
    """How a result crosses from a worker: every field, each evidence block, and the journal and slim texts
    its worker encoded come back as they were (the texts are not made again on the coordinator)."""
    import dataclasses
    import json
    import pickle

    from .test_trust import assert_same_blocks, evidence_samples

    outcomes = [scored("x", "naive", 1), VariableOutcome("y", "naive", "skipped", reason="too short")]
    original = dataclasses.replace(result(3, outcomes), evidence=tuple(evidence_samples())).encoded()
    back = pickle.loads(pickle.dumps(original, protocol=5))
    assert back == dataclasses.replace(original, evidence=back.evidence)  # every compared field but the arrays
    assert_same_blocks(back.evidence, original.evidence)
    assert (back.journal_text, back.slim_text) == (original.journal_text, original.slim_text)
    assert_same_blocks(BatchResult.from_dict(json.loads(back.journal_text)).evidence, original.evidence,
                       read_only=False)
    bare = pickle.loads(pickle.dumps(result(4, outcomes)))
    assert bare == result(4, outcomes) and bare.journal_text is None and bare.slim_text is None
