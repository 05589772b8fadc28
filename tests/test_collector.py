"""Start-up objects frozen out of garbage collections: nested blocks, threads, and a worker's for good."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

import pytest

from recursive_training.base import existing_objects_frozen

from .conftest import REPO


def test_objects_stay_frozen_until_the_last_block_ends_in_any_thread():
    assert gc.get_freeze_count() == 0
    entered, outer_done, checked = threading.Event(), threading.Event(), []

    def overlapping_block() -> None:  # enters inside the main thread's block, leaves after it
        with existing_objects_frozen():
            entered.set()
            outer_done.wait(10)
            checked.append(gc.get_freeze_count())

    with existing_objects_frozen():
        outer = gc.get_freeze_count()
        assert outer > 1000  # this test process's modules, at least
        with existing_objects_frozen():
            pass
        assert gc.get_freeze_count() >= outer  # an inner block's end leaves the outer block's objects frozen
        other = threading.Thread(target=overlapping_block)
        other.start()
        assert entered.wait(10)
    outer_done.set()
    other.join()
    assert checked and checked[0] >= outer  # the main thread's end did not unfreeze the other thread's block
    assert gc.get_freeze_count() == 0  # the last block out gave them back


def test_a_cycle_that_died_while_frozen_is_collected_once_the_block_ends():
    class Node:
        pass

    collected = []
    node = Node()
    node.self = node  # a reference cycle: only the cyclic collector frees it
    finalizer = __import__("weakref").finalize(node, collected.append, True)
    with existing_objects_frozen():
        del node
        gc.collect()
        assert not collected and finalizer.alive  # frozen: the collector does not look at it
    gc.collect()
    assert collected == [True]


@pytest.mark.parametrize("frozen_before", [
    "freeze_existing_objects()",  # a worker, for good
    "gc.freeze()",  # a caller that froze its own objects: not ours to unfreeze
])
def test_objects_frozen_before_a_block_stay_frozen_after_it(frozen_before):
    code = ("import gc; from recursive_training.base import existing_objects_frozen, freeze_existing_objects\n"
            f"{frozen_before}; before = gc.get_freeze_count()\n"
            "with existing_objects_frozen(): pass\n"
            "print(before > 1000 and gc.get_freeze_count() >= before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "True"
