"""Which of a run's partitions cannot make progress on the dask cluster, and why.

dask waits for a worker that holds a task's only allowed address however long it is gone,
paused or hung (its nanny may restart it under a new address; a stopped process keeps its
connection for minutes): a job would wait for good. So does a partition that finished on a
worker that stops before its result is fetched (the fetch waits on the stopped process), and
one whose result is fetched from a worker that runs but does not arrive for ``hung_after``
seconds while another worker is unwell (its fetch may be stuck in a batch with the stopped
worker's: dask gathers several results in one request once five are under way). The executor
asks :class:`PartitionWatch` every half second. A blocked partition moves at once to a worker
that runs and may read it (any worker, or one of the nodes that store it, under its
current address); one that no such worker can run for ``unrunnable_after`` seconds fails the
job with the reason.
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
    #: ``workers`` is a preference only (dask may run it on any worker)
    loose: bool = False
    blocked_since: float | None = None
    #: when the watch first saw its result finished and not arrived
    finished_since: float | None = None


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
        holding: dict[Any, list[str]] | None = None,
    ) -> list[Any]:
        """The futures to submit again (elsewhere); raises CoreError for a partition no worker
        has been able to run for ``unrunnable_after`` seconds.

        ``processing``: the keys each worker computes; ``holding``: the workers holding the
        result of each finished key that has not arrived yet (fetched from a hung worker, it
        never does: computed again elsewhere it does)."""
        now = self.clock()
        health = {w.address: w for w in worker_health(identity, hung_after=self.hung_after)}
        by_name = names(identity.get("workers", {}))
        where = {key: address for address, keys in processing.items() for key in keys}
        holding = holding or {}
        for key, holders in holding.items():
            if holders:  # one that can hand it over, if any can
                where[key] = next((a for a in holders if a in health and health[a].ok), holders[0])
        # a result from a worker that runs is late only beside one that does not (a big
        # result over a slow network is not computed again and again)
        unwell = any(not w.ok for w in health.values())
        again = []
        for future, task in running.items():
            p = task.partition
            allowed = None if task.workers is None or task.loose else task.workers
            reason = _blocked(where.get(future.key), allowed, health, p)
            if reason is None and future.key in holding and unwell:
                reason = self._undelivered(task, now)
            if reason is None:
                task.blocked_since = None
                continue
            # where it may run now: its nodes (by name: a restarted node has a new address)
            options = [by_name[n] for n in p.nodes if n in by_name] if p.nodes else list(health)
            if any(health[a].ok for a in options):
                again.append(future)
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

    def _undelivered(self, task: Submitted, now: float) -> str | None:
        """Why a finished partition whose result is held by a worker that runs still blocks
        (its result has not arrived for ``hung_after`` seconds), or None."""
        if task.finished_since is None:
            task.finished_since = now
        waited = now - task.finished_since
        if waited < self.hung_after:
            return None
        return f"its result has not arrived for {waited:.0f} s"


def _blocked(
    at: str | None, allowed: list[str] | None, health: dict[str, WorkerHealth], p: Partition
) -> str | None:
    """Why the task cannot progress, or None if it can (running, or waiting for a free
    worker that runs). ``allowed``: the addresses dask may run it at (None: any)."""
    if at is not None:
        worker = health.get(at)
        return None if worker is None or worker.ok else worker.describe()
    candidates = list(health) if allowed is None else [a for a in allowed if a in health]
    if not candidates:
        if p.nodes:
            return f"none of its nodes ({', '.join(p.nodes)}) is connected"
        return "no dask worker is connected"
    if any(health[a].ok for a in candidates):
        return None
    return ", ".join(health[a].describe() for a in candidates)
