"""The progress line and its ETA."""

from __future__ import annotations

import io

from recursive_training.progress import ProgressBar, format_duration


def test_format_duration():
    assert format_duration(5) == "0:05"
    assert format_duration(125) == "2:05"
    assert format_duration(3 * 3600 + 61) == "3:01:01"


def test_eta_counts_only_batches_run_here():
    bar = ProgressBar(stream=io.StringIO(), width=10)
    bar(2, 10, None)  # two resumed from the journal
    line = bar.render(6, 10, elapsed=40.0)  # four batches in 40 s -> 10 s each, four left
    assert "[######....] 6/10 batches" in line
    assert "ETA 0:40" in line
    assert bar.render(10, 10, 50.0).endswith("done")
    assert "3/8 variables" in ProgressBar(stream=io.StringIO(), unit="variables").render(3, 8, 1.0)


def test_log_mode_prints_start_and_end_lines():
    stream = io.StringIO()
    bar = ProgressBar(stream=stream, log_interval=3600)
    bar(0, 3, None)
    bar(1, 3, object())
    bar(3, 3, object())
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("[") and lines[-1].endswith("done")
