"""Which of a run's partitions cannot make progress on the dask cluster, and why.

dask waits for a worker that holds a task's only allowed address however long it is gone,
paused or hung (its nanny may restart it under a new address; a stopped process keeps its
connection for minutes): a job would wait for good. The executor asks :class:`PartitionWatch`
every half second. A partition any worker may read moves to a running worker at once; a
partition stored on nodes follows its node to a new address; one that no worker can run for
``unrunnable_after`` seconds fails the job with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.core.cluster import WorkerHealth, names, worker_health
from apps.core.errors import CoreError
from apps.core.io.base import Partition


@dataclass
class Submitted:
    """A partition's task: what it computes, the worker addresses it was sent to (None: any)."""

    partition: Partition
    roi: np.ndarray | None
    workers: list[str] | None
    blocked_since: float | None = None


class PartitionWatch:
    """Judges a run's tasks from the scheduler's identity and the tasks each worker processes."""

    def __init__(
        self,
        *,
        hung_after: float,
        unrunnable_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hung_after = hung_after
        self.unrunnable_after = unrunnable_after
        self.clock = clock

    def healthy(self, identity: dict[str, Any]) -> set[str]:
        """Addresses of the workers that run tasks now (not paused, hung or closing)."""
        return {w.address for w in worker_health(identity, hung_after=self.hung_after) if w.ok}

    def review(
        self,
        running: dict[Any, Submitted],
        identity: dict[str, Any],
        processing: dict[str, list[Any]],
    ) -> list[Any]:
        """The futures to submit again (elsewhere); raises CoreError for a partition no worker
        has been able to run for ``unrunnable_after`` seconds."""
        now = self.clock()
        health = {w.address: w for w in worker_health(identity, hung_after=self.hung_after)}
        by_name = names(identity.get("workers", {}))
        where = {key: address for address, keys in processing.items() for key in keys}
        again = []
        for future, task in running.items():
            p = task.partition
            holders = sorted(by_name[n] for n in p.nodes if n in by_name) if p.nodes else None
            if holders and holders != sorted(task.workers or []):
                again.append(future)  # its node came back under a new address
                continue
            reason = _blocked(where.get(future.key), holders, health, p)
            if reason is None:
                task.blocked_since = None
                continue
            if holders is None and any(w.ok for w in health.values()):
                again.append(future)  # any worker may read it: one that runs takes it
                continue
            if task.blocked_since is None:
                task.blocked_since = now
            if now - task.blocked_since >= self.unrunnable_after:
                raise CoreError(
                    f"No worker can run {p.label}: {reason} for "
                    f"{now - task.blocked_since:.0f} s. Run the job again once the cluster "
                    "is healthy (see /healthz)."
                )
        return again


def _blocked(
    at: str | None, holders: list[str] | None, health: dict[str, WorkerHealth], p: Partition
) -> str | None:
    """Why the task cannot progress, or None if it can (running, or waiting for a free
    worker that runs)."""
    if at is not None:
        worker = health.get(at)
        return None if worker is None or worker.ok else worker.describe()
    candidates = list(health) if holders is None else holders
    if not candidates:
        if p.nodes:
            return f"none of its nodes ({', '.join(p.nodes)}) is connected"
        return "no dask worker is connected"
    if any(health[a].ok for a in candidates):
        return None
    return ", ".join(health[a].describe() for a in candidates)
