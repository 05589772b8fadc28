"""Which cluster a run starts for itself: a local one, or workers submitted as jobs to a job queue.

Kept free of Dask imports: the command line reads its options before
anything heavy is imported (see fork_server.py). The job queue's own
settings (queue, account, walltime, cores, memory, job directives,
interface) are handed to dask-jobqueue as they are; whatever is not given
here comes from Dask's jobqueue configuration (``~/.config/dask/jobqueue.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .base import ConfigError

__all__ = ["CLUSTER_KINDS", "JOB_QUEUE_CLASSES", "ClusterSettings"]

JOB_QUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
CLUSTER_KINDS = ("local", *JOB_QUEUE_CLASSES)


@dataclass(frozen=True)
class ClusterSettings:
    """``kind`` local, slurm, pbs, sge or lsf; ``options`` the job queue's settings, by dask-jobqueue's names.

    In a config file this is the ``[cluster]`` table: ``kind`` and the options
    side by side (``kind = "slurm"``, ``queue = "normal"``, ``cores = 4``...).
    """

    kind: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CLUSTER_KINDS:
            raise ConfigError(f"option 'cluster': unknown kind {self.kind!r}; choose from {', '.join(CLUSTER_KINDS)}")
        if not isinstance(self.options, Mapping) or not all(isinstance(key, str) for key in self.options):
            raise ConfigError("option 'cluster': its settings must be a table of names to values")
        if self.options and not self.job_queue:
            names = ", ".join(sorted(self.options))
            raise ConfigError(f"option 'cluster': {names} configure a job queue, but the cluster is local; "
                              f"set kind to one of {', '.join(JOB_QUEUE_CLASSES)}")
        object.__setattr__(self, "options", dict(self.options))  # a copy: the caller's dict may change

    @property
    def job_queue(self) -> bool:
        """Workers run as jobs of a batch system, through dask-jobqueue."""
        return self.kind in JOB_QUEUE_CLASSES

    @classmethod
    def from_value(cls, value: Any) -> "ClusterSettings":
        """From a kind's name (``--cluster slurm``), a ``[cluster]`` table, or settings already made."""
        if isinstance(value, ClusterSettings):
            return value
        if isinstance(value, str):
            return cls(kind=value)
        if isinstance(value, Mapping):
            options = {str(key).replace("-", "_"): item for key, item in value.items()}
            return cls(kind=options.pop("kind", "local"), options=options)
        raise ConfigError(f"option 'cluster' must be a kind ({', '.join(CLUSTER_KINDS)}) or a table, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.options}
