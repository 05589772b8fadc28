"""The results journal survives torn writes and refuses real damage."""

from __future__ import annotations

import pytest

from recursive_training.errors import DataError
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
