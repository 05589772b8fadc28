"""The heap settings that keep torch training from faulting its memory in again every epoch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] == "worker-like":
        from recursive_training.base import reuse_freed_memory
        reuse_freed_memory()
    elif sys.argv[1] == "torch-in-process":
        from recursive_training.retrodiction import RetrodictionSettings
        from recursive_training.worker_task import as_on_a_worker
        with as_on_a_worker(RetrodictionSettings(models=("mlp",))):
            pass
    def epoch():  # four 720 KB activations alive at once, freed together, as in an epoch of 16 MLPs
        arrays = [np.ones(180_000, dtype=np.float32) for _ in range(4)]
        return sum(float(a[0]) for a in arrays)
    epoch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        epoch()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap settings")
def test_worker_heap_settings_reuse_freed_memory_instead_of_faulting_it_in_again():
    # glibc's defaults hand the heap's top back once more than its trim threshold is free: every epoch then
    # faults its 2.8 MB in again (about 700 pages); with the workers' settings the pages are reused.
    assert page_faults("default") > 200 * 500
    assert page_faults("worker-like") < 200
    # and a run that trains torch models in this process (workers 0, a head start) gets them too
    assert page_faults("torch-in-process") < 200
