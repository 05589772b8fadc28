"""Adaptive scaling that also replaces workers the cluster lost.

Dask's ``Adaptive`` compares its target with the cluster's plan, and a
worker that died (a job cancelled with scancel, preempted, or past its
walltime) stays in that plan: while the target is unchanged it is never
started again, so a run would finish on fewer workers than asked for.
Once Dask has given up on such a worker (``distributed.deploy.lost-worker-timeout``),
this asks the cluster to start it again.
"""

from __future__ import annotations

from distributed.deploy.adaptive import Adaptive

__all__ = ["ReplacingAdaptive"]


class ReplacingAdaptive(Adaptive):
    """Dask's adaptive scaling, plus: a planned worker that is gone is started again."""

    async def adapt(self) -> None:
        await super().adapt()
        cluster = self.cluster
        if set(cluster.worker_spec) - set(cluster.workers):  # planned, but no longer running
            cluster.scale(len(cluster.worker_spec))
