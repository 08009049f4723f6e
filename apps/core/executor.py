"""Run an analysis over a dataset's partitions: in process, or on a dask cluster.

Both executors share one contract::

    run = executor.run(dataset, analysis, roi=roi, on_progress=cb, should_stop=stop)
    run.results        # {name: ndarray}
    run.partitions     # [PartitionRecord(index, start, stop, worker, seconds, nbytes), ...]

``on_progress(frames_done, frames_total, partial_results)`` is called after every merged
partition. ``should_stop()`` is polled; when it turns true the running partitions stop at their
next tile and ``run`` raises :class:`JobCancelled`. What both do around the computing (the plan,
the merge, the records) is :mod:`apps.core.runplan`; a dask run is :mod:`apps.core.dask_run`.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any

from apps.core import cluster
from apps.core.analyses.base import Analysis
from apps.core.dask_run import DaskRun, worker_slots
from apps.core.errors import CoreError, DataSetError, JobCancelled
from apps.core.io.base import DEFAULT_PARTITION_BYTES, DataSet, Partition
from apps.core.ops import StopCheck
from apps.core.runplan import (
    ProgressCallback,
    RunPlan,
    RunRequest,
    RunResult,
    ThrottledCheck,
    combine_passes,
    partition_failure,
    pass_progress,
)
from apps.core.watch import PartitionWatch


class Executor(ABC):
    """Runs analyses; subclasses decide where partitions are computed."""

    #: how many partitions a dataset is split into at least (one per worker)
    workers: int = 1
    #: the size of the partitions a dataset without its own is split into: 512 MiB, the top of
    #: the design's range, because every partition costs a few milliseconds (a memory map, the
    #: merge, a progress report; on dask a task for the scheduler and the driver); 256 MiB
    #: measured slower, on dask and in process (docs/performance.md).
    partition_bytes: int = 2 * DEFAULT_PARTITION_BYTES

    def partitions(
        self, dataset: DataSet, target_bytes: int | None = None, *, min_count: int | None = None
    ) -> list[Partition]:
        """``dataset`` split into partitions of about ``target_bytes``, at least ``min_count``
        (default: one per worker)."""
        return dataset.partitions(
            target_bytes=target_bytes or self.partition_bytes,
            min_count=min_count or self.workers,
        )

    def partitions_at(self, dataset: DataSet, ranges: list[list[int]]) -> list[Partition]:
        """``dataset`` split at exactly ``ranges`` (``[[start, stop], ...]`` in frames, as a
        run recorded them in :attr:`RunResult.ranges`), to compute it again with the same
        bits; DataSetError if its layout no longer splits so (an ingested copy of another
        layout, a changed shape)."""
        parts = dataset.partitions(count=max(1, len(ranges)), target_bytes=self.partition_bytes)
        found = [[p.start, p.stop] for p in parts]
        if found != [list(r) for r in ranges]:
            raise DataSetError(
                f"{dataset.path}: its partitions are {_spans(found)} now, not {_spans(ranges)} "
                "as recorded, so the result cannot be computed again bit for bit."
            )
        return parts

    def run(
        self,
        dataset: DataSet,
        analysis: Analysis,
        *,
        roi: Any = None,
        on_progress: ProgressCallback | None = None,
        should_stop: StopCheck | None = None,
        partitions: list[Partition] | None = None,
    ) -> RunResult:
        """Run ``analysis`` over ``partitions`` of ``dataset`` (default: :meth:`partitions`),
        the scan positions of ``roi`` only (a boolean array of the scan shape).

        An analysis of several passes (:attr:`Analysis.passes`) runs them one after the other,
        each built from the results of the one before; the progress counts the frames of all
        passes, and the result is the last pass's with the records of all.
        """
        request = RunRequest(dataset, analysis, roi, on_progress, should_stop, partitions)
        runs: list[RunResult] = []
        passes = analysis.passes
        for k in range(passes):
            if k:
                analysis = analysis.next_pass(runs[-1].results)
            progress = pass_progress(on_progress, k, passes)
            runs.append(self._run(replace(request, analysis=analysis, on_progress=progress)))
        return runs[0] if len(runs) == 1 else combine_passes(runs)

    @abstractmethod
    def _run(self, request: RunRequest) -> RunResult:
        """Plan the request's partitions, compute each of them, merge them into the plan."""

    def prepare(self) -> None:  # noqa: B027 - nothing to prepare by default
        """Start what the next run needs and can be asked for early (a caller that has other
        work before the run, such as claiming a job, calls this first)."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the executor's resources."""


def _spans(ranges: list[list[int]], shown: int = 4) -> str:
    text = ", ".join(f"[{a}, {b})" for a, b in ranges[:shown])
    return text + (f" and {len(ranges) - shown} more" if len(ranges) > shown else "")


class InlineExecutor(Executor):
    """Computes every partition in this process, one after the other (tests, small data)."""

    def _run(self, request: RunRequest) -> RunResult:
        plan = RunPlan(request, request.partitions or self.partitions(request.dataset))
        task = request.analysis.task()
        should_stop = request.should_stop
        # between partitions every time; between tiles at most every 0.1 s (it may query a database)
        per_tile = None if should_stop is None else ThrottledCheck(should_stop)
        for p, part_roi in plan.work:
            if should_stop is not None and should_stop():
                raise JobCancelled()
            t0 = time.perf_counter()
            try:
                value = task(p, part_roi, per_tile)
            except CoreError:
                raise
            except Exception as exc:  # a bug or an unreadable file the reader did not foresee
                raise partition_failure(p, exc, "in this process") from exc
            finally:
                p.close()
            plan.merge(p, part_roi, value, "inline", time.perf_counter() - t0)
        return plan.finish()


#: Dask settings for the LocalClusters this module starts. By default every scheduler, nanny and
#: worker event loop wakes every 20 ms (a tick that only measures how late the loop runs),
#: samples its process's metrics every 0.5 s, and every worker samples its threads' stacks every
#: 10 ms for the dashboard's profile (which the portal never shows): an idle cluster took a
#: share of a core, on the cores its workers compute on; with these, a fifth of it
#: (docs/performance.md).
QUIET_CLUSTER = {
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.profile.enabled": False,
}


def _name_workers(local: Any, names: list[str]) -> None:
    """Start one LocalCluster worker per name: on one machine, workers stand in for nodes."""
    import copy

    for name in names:
        spec = copy.deepcopy(local.new_spec)
        spec["options"]["name"] = name
        local.worker_spec[name] = spec
    local.sync(local._correct_state)


class DaskExecutor(Executor):
    """Submits one task per partition to a dask cluster and merges them in partition order.

    Parameters
    ----------
    address : str or None
        A scheduler address (``tcp://host:8786``); ``None`` starts a ``LocalCluster`` on
        127.0.0.1 with one single-threaded worker process per core.
    in_flight_per_worker : int
        Backpressure: at most this many partitions per worker are submitted at once (or twice
        its threads, if that is more: each thread computes one partition at a time).
    worker_names : list of str, optional
        For a LocalCluster: one worker per name (the node names of ``DATA_NODES``).
    hung_after, unrunnable_after : float
        Seconds without a heartbeat after which a worker counts as hung, and seconds after
        which a partition that no worker can run fails the run (see :mod:`apps.core.watch`).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int | None = None,
        in_flight_per_worker: int = 4,
        cluster_kwargs: dict[str, Any] | None = None,
        worker_names: list[str] | None = None,
        hung_after: float | None = None,
        unrunnable_after: float = 60.0,
    ) -> None:
        import dask
        from distributed import Client, LocalCluster

        from apps.core.warmup import WarmUp

        self.cluster = None
        if address is None:
            options = {
                "host": "127.0.0.1",
                "n_workers": 0 if worker_names else n_workers or os.cpu_count() or 1,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": "127.0.0.1:0",
                **(cluster_kwargs or {}),
            }
            with dask.config.set(QUIET_CLUSTER):  # the nannies pass it on to their workers
                self.cluster = LocalCluster(**options)
                if worker_names:
                    _name_workers(self.cluster, worker_names)
            address = self.cluster.scheduler_address
        # On one machine the driver fetches results from the workers itself; relayed by the
        # scheduler (dask's default for a remote cluster, whose workers the driver may not
        # reach) every result crosses a socket twice in this process.
        direct = True if self.cluster is not None else None
        self.client = Client(address, set_as_default=False, direct_to_workers=direct)
        # Never waited for: a hung worker must not hold the driver (workers started with
        # ``--preload apps.core.warmup`` are warm already).
        self._warm_up = cluster.register_in_background(self.client, WarmUp())
        self.in_flight_per_worker = in_flight_per_worker
        #: analysis tasks larger than this (pickled) are scattered once instead of sent along
        self.scatter_min_bytes = 1 << 20
        #: seconds between two calls of the caller's ``should_stop`` (it may query a database)
        self.poll_interval = 0.1
        #: seconds a cancelled run waits for its running partitions to stop (a hung worker's
        #: never do: the run ends anyway, and they stop when it wakes, or compute for nothing)
        self.cancel_grace = 3.0
        #: seconds between two reviews of the running partitions (see apps.core.watch)
        self.holder_interval = 0.5
        #: workers silent this long are hung; a partition no worker could run this long fails
        self.watch = PartitionWatch(
            hung_after=cluster.HUNG_AFTER if hung_after is None else hung_after,
            unrunnable_after=unrunnable_after,
        )
        #: seconds the driver waits for a partition before it checks ``should_stop`` again
        self.wait_interval = 0.02
        #: seconds a run uses the workers asked for by :meth:`prepare` (else it asks again)
        self.prepared_for = 2.0
        self._prepared: tuple[float, Any] | None = None

    def prepare(self) -> None:
        """Ask the scheduler for its workers now, so a run starting soon need not wait for the
        round trip (in the web process it waits behind Daphne and the request)."""
        self._prepared = (time.monotonic(), cluster.identity_future(self.client))

    @property
    def workers(self) -> int:  # type: ignore[override]
        """The threads of all workers: each computes one partition at a time."""
        return max(1, len(self._workers()[1]))

    def _run(self, request: RunRequest) -> RunResult:
        names, slots = self._workers()  # one scheduler round trip, before any other
        parts = request.partitions or self.partitions(request.dataset, min_count=max(1, len(slots)))
        plan = RunPlan(request, parts)
        run = DaskRun(self, plan, names=names, slots=slots, should_stop=request.should_stop)
        return run.execute()

    def _workers(self) -> tuple[dict[str, str], list[str]]:
        """``{worker name: address}`` and the slots of the workers that run (see
        :func:`apps.core.dask_run.worker_slots`)."""
        identity = self._identity()
        return worker_slots(identity, self.watch.healthy(identity))

    def _identity(self) -> dict[str, Any]:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and time.monotonic() - prepared[0] < self.prepared_for:
            with contextlib.suppress(Exception):  # a failed early question: ask again
                return dict(prepared[1].result(timeout=self.prepared_for))
        return cluster.scheduler_identity(self.client)

    def close(self) -> None:
        # A registration still waiting for a slow worker ends with the client, not as an error.
        self._warm_up.cancel()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
