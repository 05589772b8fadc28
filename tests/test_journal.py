"""The results journal survives torn writes and refuses real damage."""

from __future__ import annotations

import pytest

from recursive_training.base import DataError
from recursive_training.journal import ResultsJournal


def test_append_and_read_back(tmp_path):
    journal = ResultsJournal(tmp_path / "run" / "journal.jsonl")
    assert not journal.exists() and journal.read() == []
    journal.append({"batch_id": "a", "status": "done"})
    journal.append({"batch_id": "b", "status": "failed", "error": "x"})
    assert [r["batch_id"] for r in journal.read()] == ["a", "b"]


def test_torn_last_line_is_ignored_and_cut(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = ResultsJournal(path)
    journal.append({"batch_id": "a"})
    with open(path, "a") as handle:
        handle.write('{"batch_id": "b", "resu')  # a crash mid-write
    assert [r["batch_id"] for r in journal.read()] == ["a"]
    journal.append({"batch_id": "c"})
    assert [r["batch_id"] for r in journal.read()] == ["a", "c"]


def test_damage_before_the_end_is_an_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"batch_id": "a"}\nnot json\n{"batch_id": "b"}\n')
    with pytest.raises(DataError, match="line 2 is damaged"):
        ResultsJournal(path).read()


@pytest.mark.parametrize("line,reason", [
    ('["a", "list"]', "not a JSON object"),
    ('{"status": "done"}', "missing 'result'"),
])
def test_a_record_of_the_wrong_shape_is_damage_naming_file_and_line(tmp_path, line, reason):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"batch_id": "a", "status": "done", "result": 1}\n' + line + "\n")

    def parse(record):
        return record["result"]

    with pytest.raises(DataError, match=f"{path}: line 2 is damaged \\({reason}.*--resume --repair"):
        ResultsJournal(path).read(parse)


def test_repair_drops_damaged_lines_after_saving_a_copy(tmp_path):
    path = tmp_path / "journal.jsonl"
    original = '{"result": 1}\nnot json\n{"result": 2}\n{"other": 3}\n{"result": 4}\n'
    path.write_text(original)
    journal = ResultsJournal(path)
    assert journal.read(lambda record: record["result"], repair=True) == [1, 2, 4]
    assert journal.dropped == [2, 4] and journal.saved_copy.read_text() == original
    assert path.read_text() == '{"result": 1}\n{"result": 2}\n{"result": 4}\n'
    assert ResultsJournal(path).read(lambda record: record["result"]) == [1, 2, 4]  # clean now
