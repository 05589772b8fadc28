"""Typed records: one module writes and reads them, with a schema version that a reader respects."""

from __future__ import annotations

import dataclasses
import json

import pytest

from recursive_training import BatchStatus, ParallelTrainingCoordinator, TrainingConfig, read_results
from recursive_training.base import ConfigError, DataError
from recursive_training.execution import RetryPolicy
from recursive_training.journal import ResultsJournal, json_line
from recursive_training.records import SCHEMA_VERSION, DoneRecord, RunSummary, journal_line, parse_journal_line


@pytest.fixture
def finished(tmp_path, store_dir):
    config = TrainingConfig.from_mapping({
        "store_path": store_dir, "start": "2020-05-01", "end": "2020-08-01", "batch_size_days": 30,
        "models": ("naive", "ar(order=2)"), "workers": 0, "output_dir": tmp_path / "runs", "run_id": "typed"})
    coordinator = ParallelTrainingCoordinator(config)
    summary = coordinator.start_training()
    return config, summary, coordinator.save_results_to_file()


def test_summary_and_results_file_round_trip_through_json(finished):
    config, summary, path = finished
    again = RunSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert again.to_dict() == summary.to_dict()
    assert again.variables["walk"]["ar(order=2)"].trust == summary.variables["walk"]["ar(order=2)"].trust
    results = read_results(path)
    assert results.schema == SCHEMA_VERSION and results.summary.to_dict() == summary.to_dict()
    assert results.config["run_id"] == "typed"
    assert [b.status for b in results.batches] == [BatchStatus.DONE] * summary.batches.total
    assert {b.result.batch_id for b in results.batches} == {b.batch_id for b in results.batches}
    assert summary.models == ("naive", "ar(order=2)") and set(summary.per_model) == set(summary.models)


def test_str_of_a_summary_is_the_counts_and_the_trust_table(finished):
    _, summary, _ = finished
    text = str(summary)
    counts = summary.batches
    assert text.splitlines()[0] == f"run typed: {counts.completed} of {counts.total} batches done, 0 failed, 0 not run"
    trust = summary.variables["seasonal"]["naive"].trust
    assert "variable  model" in text and f"[{trust.low:.3f}, {trust.high:.3f}]" in text


def test_every_journal_line_carries_the_schema_and_reads_back_typed(finished):
    config, summary, _ = finished
    journal = ResultsJournal(config.run_dir / "journal.jsonl")
    raw = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert {r["schema"] for r in raw} == {SCHEMA_VERSION}
    records = journal.read(parse_journal_line)
    assert records[0].run_id == "typed" and records[0].procedure == config.procedure()
    assert sorted(r.batch_id for r in records[1:]) == sorted(b.batch_id for b in read_results(
        config.results_path).batches)


def test_a_result_encoded_on_its_worker_is_journalled_as_the_coordinator_would_encode_it(finished):
    config, _, _ = finished
    result = ResultsJournal(config.run_dir / "journal.jsonl").read(parse_journal_line)[1].result
    worker_side = journal_line(DoneRecord(dataclasses.replace(result).encoded()))
    coordinator_side = journal_line(DoneRecord(result))
    assert isinstance(worker_side, str) and isinstance(coordinator_side, dict)
    assert json.loads(worker_side) == json.loads(json_line(coordinator_side))
    assert parse_journal_line(json.loads(worker_side)).result.to_dict() == result.to_dict()
    renamed = dataclasses.replace(result.encoded(), batch_id="other")  # a copy never keeps the old text
    assert renamed.journal_text is None and result.without_evidence().journal_text is None


def test_a_line_without_a_schema_is_version_1(finished):
    config, _, _ = finished
    line = json.loads((config.run_dir / "journal.jsonl").read_text().splitlines()[1])
    del line["schema"]
    assert parse_journal_line(line).result.batch_id == line["batch_id"]


def test_a_newer_schema_is_refused_with_file_and_line_and_never_repaired_away(finished):
    config, _, _ = finished
    path = config.run_dir / "journal.jsonl"
    lines = path.read_text().splitlines()
    newer = json.loads(lines[2])
    newer["schema"] = SCHEMA_VERSION + 1
    lines[2] = json.dumps(newer)
    path.write_text("\n".join(lines) + "\n")
    before = path.read_text()
    for repair in (False, True):
        with pytest.raises(DataError, match=f"journal {path}: line 3: journal record has schema version "
                                            f"{SCHEMA_VERSION + 1}, newer than this version"):
            ResultsJournal(path).read(parse_journal_line, repair=repair)
    assert path.read_text() == before


def test_a_results_file_that_is_not_ours_is_named(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"something": "else"}')
    with pytest.raises(DataError, match=f"{path} is not a results file of this tool"):
        read_results(path)


def test_one_retry_policy_for_every_executor():
    policy = RetryPolicy(2)
    assert [policy.again(failed) for failed in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(0).again(1)
    with pytest.raises(ConfigError, match="retries"):
        RetryPolicy(-1)


def test_the_results_file_lists_every_batch_in_plan_order_with_the_result_its_journal_holds(finished):
    """Results are not kept in memory during a run but spilled; what the file lists is what was journalled."""
    config, summary, path = finished
    listed = read_results(path).batches
    planned = ParallelTrainingCoordinator(config).prepare_training_batches()
    assert [b.batch_id for b in listed] == [b.batch_id for b in planned] and len(listed) == summary.batches.total
    journalled = {r.batch_id: r.result for r in ResultsJournal(config.run_dir / "journal.jsonl").read(
        parse_journal_line)[1:]}
    for batch, plan in zip(listed, planned):
        assert batch.result.to_dict() == journalled[batch.batch_id].without_evidence().to_dict()
        assert (batch.start, batch.variables, batch.attempts, batch.resumed) == (
            plan.start_time.isoformat(), plan.variables, 1, False)
