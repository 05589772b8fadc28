"""A batch's peak memory: the kernel's exact peak where Linux keeps one, memory-profiler's samples elsewhere."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recursive_training.memory import PeakMemoryMonitor, _kernel_keeps_peak, current_memory_mib

MIB = 2**20
HELD_MIB = 200

kernel_only = pytest.mark.skipif(not _kernel_keeps_peak(), reason="the kernel keeps no resettable peak here")


def touch_and_free(mib: int = HELD_MIB) -> None:
    """Make ``mib`` resident (every page written), then give it back at once."""
    block = np.ones(mib * MIB // 8)
    assert block[-1] == 1.0
    del block


@kernel_only
def test_a_brief_peak_is_caught_exactly_and_forgotten_by_the_next_monitor():
    with PeakMemoryMonitor() as first:
        touch_and_free()  # resident for a few milliseconds: a sampler 20 times a second mostly misses it
    assert not first.sampled
    assert HELD_MIB - 5 <= first.increase_mib <= HELD_MIB + 30
    assert current_memory_mib() < first.peak_mib - (HELD_MIB - 5)  # freed: numpy's block went back
    with PeakMemoryMonitor() as second:  # the peak was reset: the first one's block is not this one's
        pass
    assert second.increase_mib < 20


@kernel_only
def test_overlapping_monitors_each_see_their_own_peak():
    with PeakMemoryMonitor() as outer:
        touch_and_free()
        with PeakMemoryMonitor() as inner:  # its reset must not lose the outer one's peak
            pass
        left_open = PeakMemoryMonitor().__enter__()  # as a batch left running after its timeout
    with PeakMemoryMonitor() as after:
        pass
    assert outer.increase_mib >= HELD_MIB - 5
    assert inner.increase_mib < 20 and after.increase_mib < 20  # the outer block came before they opened
    assert left_open.peak_mib < outer.peak_mib - (HELD_MIB - 5)


def test_sampling_sees_memory_held_across_samples():
    with PeakMemoryMonitor(interval_seconds=0.01, sample=True) as monitor:
        block = np.ones(HELD_MIB * MIB // 8)
        time.sleep(0.2)  # twenty samples while it is held
        del block
    assert monitor.sampled
    assert HELD_MIB - 5 <= monitor.increase_mib <= HELD_MIB + 30
    assert monitor.peak_mib >= monitor.baseline_mib > 10


@kernel_only
def test_both_readings_of_the_resident_size_agree():
    from recursive_training.memory import _sampled_memory_mib

    kernel, sampled = current_memory_mib(), _sampled_memory_mib()
    assert abs(kernel - sampled) < 5  # the same number, read two ways


@kernel_only
def test_a_status_file_unreadable_at_the_end_leaves_the_monitor_with_what_it_knew(monkeypatch):
    import recursive_training.memory as memory

    with PeakMemoryMonitor() as monitor:
        baseline = monitor.baseline_mib
        monkeypatch.setattr(memory, "_kernel_memory_mib", lambda: None)  # as if /proc/self/status failed
    assert monitor.peak_mib == baseline and monitor.increase_mib == 0.0
    assert monitor not in memory._open_monitors
