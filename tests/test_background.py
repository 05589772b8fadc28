"""BackgroundStart: the caller works while something starts, then gets its result or its error."""

from __future__ import annotations

import threading

import pytest

from recursive_training.base import BackgroundStart, ClusterError


def test_the_caller_works_until_the_start_is_done_then_gets_its_result():
    release = threading.Event()
    starting = BackgroundStart(lambda: release.wait(10) and "ready")
    steps = 0
    while not starting.done:
        steps += 1
        if steps == 3:
            release.set()
        else:
            threading.Event().wait(0.01)
    assert steps >= 3 and starting.result() == "ready"


def test_a_failed_start_raises_in_the_callers_thread():
    def start() -> None:
        raise ClusterError("cannot connect to a local cluster: no ports")

    starting = BackgroundStart(start)
    with pytest.raises(ClusterError, match="no ports"):
        starting.result()
    assert starting.done
