"""One run of :class:`apps.core.executor.DaskExecutor`: its partitions on the cluster.

A :class:`DaskRun` keeps a bounded number of partitions submitted (backpressure), merges each
result as it arrives and submits the next; every ``holder_interval`` it lets
:class:`apps.core.watch.PartitionWatch` move partitions away from workers that hang, pause or
left. Placement: a partition stored on nodes runs only on them; any other prefers one worker
slot, run after run (:func:`worker_slots`).
"""

from __future__ import annotations

import contextlib
import pickle
import time
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.core import cluster, kernels
from apps.core.analyses.base import PartitionTask
from apps.core.errors import CoreError, JobCancelled
from apps.core.io.base import Partition
from apps.core.ops import StopCheck
from apps.core.runplan import RunPlan, RunResult, ThrottledCheck, partition_failure
from apps.core.watch import Submitted

if TYPE_CHECKING:
    from apps.core.executor import DaskExecutor


def worker_slots(identity: dict[str, Any], healthy: set[str]) -> tuple[dict[str, str], list[str]]:
    """``{worker name: address}`` (names are compared as strings: a sidecar's ``nodes``), and
    each running worker's address once per thread, in a fixed order.

    Partition ``i`` of a dataset stored on no particular node prefers the worker in slot
    ``i`` modulo the slots, run after run: that worker then finds the partition's pages
    in its memory map and in its node's page cache (a first read of page-cached data
    costs a page fault per 64 KiB). Another worker may run it if that one is gone. Paused
    and hung workers get no slot (none at all: every worker).
    """
    workers = identity["workers"]
    usable = sorted(a for a in workers if a in healthy) or sorted(workers)
    slots = [
        address
        for address in usable
        for _ in range(max(1, int(workers[address].get("nthreads", 1))))
    ]
    return cluster.names(workers), slots


def _holders(p: Partition, names: dict[str, str]) -> list[str] | None:
    """Addresses of the workers holding ``p`` (None: any worker may read it).

    A partition stored on nodes runs only there: when none of them is up the run fails naming
    the partition and its nodes, instead of reading the data over the network.
    """
    if not p.nodes:
        return None
    up = [names[n] for n in p.nodes if n in names]
    if not up:
        where = getattr(p, "rel", None) or getattr(p, "path", "")
        raise CoreError(
            f"{where}: {p.label} is stored on node(s) {', '.join(p.nodes)}, and none of them is a "
            f"running dask worker (running: {', '.join(sorted(names)) or 'none'})."
        )
    return up


def _placement(p: Partition, names: dict[str, str], slots: list[str]) -> list[str] | None:
    """The workers that hold ``p`` (those that run, if any do), or else the one it prefers
    (see :func:`worker_slots`)."""
    holders = _holders(p, names)
    if holders is not None:
        return [a for a in holders if a in slots] or holders
    return [slots[p.index % len(slots)]] if slots else None


def _run_on_worker(
    task: PartitionTask, partition: Partition, roi: np.ndarray | None, cancel_event: str
) -> tuple[Any, str, float]:
    """The dask task: one partition on the worker that runs it."""
    from distributed import Event, get_worker

    event = Event(cancel_event)
    worker = str(get_worker().name)
    t0 = time.perf_counter()
    try:
        partition.locate(worker)
        # The first check waits one interval: a scheduler round trip per partition is a large
        # part of a partition's time (docs/performance.md); a cancelled run's partitions that
        # have not started are cancelled by the driver instead. The compiled loops run on this
        # task's thread only: the worker's other threads run other partitions, and other
        # workers share the machine's cores.
        with kernels.threads(1):
            value = task(partition, roi, ThrottledCheck(event.is_set, first=0.1))
    except JobCancelled:
        # The driver has already given up on this run; returning (not raising) keeps a
        # cancellation out of the worker's error log.
        value = None
    finally:
        partition.close()
    return value, worker, time.perf_counter() - t0


class DaskRun:
    """The partitions of ``plan`` on ``executor``'s cluster: those waiting, those submitted.

    ``names`` and ``slots`` are the workers when the run starts (:func:`worker_slots`);
    ``should_stop`` is the caller's check, throttled to the executor's ``poll_interval``.
    """

    def __init__(
        self,
        executor: DaskExecutor,
        plan: RunPlan,
        *,
        names: dict[str, str],
        slots: list[str],
        should_stop: StopCheck | None,
    ) -> None:
        from distributed import Event, as_completed

        self.executor = executor
        self.client = executor.client
        self.plan = plan
        self.names = names
        self.slots = slots
        self.stop = (
            None if should_stop is None else ThrottledCheck(should_stop, executor.poll_interval)
        )
        self.cancel = Event(f"cancel-{uuid.uuid4().hex}", client=self.client)
        self.task = self._send_once(plan.analysis.task())
        #: not submitted yet, the next one last
        self.pending = list(reversed(plan.work))
        self.limit = max(executor.in_flight_per_worker * max(1, len(names)), 2 * len(slots))
        #: submitted and not merged, by future
        self.running: dict[Any, Submitted] = {}
        # Results are gathered by the client's event loop as partitions finish, overlapping
        # the transfer with this thread's merging (one round trip per partition, not waited on).
        self.queue = as_completed(loop=self.client.loop, with_results=True, raise_errors=False)

    def execute(self) -> RunResult:
        """Compute every planned partition and merge it; JobCancelled once ``should_stop``."""
        cluster.prompt_sends(self.client)
        try:
            while self.pending and len(self.running) < self.limit:
                self._submit_next()
            while self.running:
                fut, result = self._next_done()
                if fut not in self.running:  # submitted again elsewhere
                    continue
                done = self.running.pop(fut)
                value, worker, secs = self._result(fut, result, done.partition)
                self.plan.merge(done.partition, done.roi, value, worker, secs)
                if self.pending:
                    self._submit_next()
        except BaseException:
            self._stop_running()  # sets the cancel event, and clears it again
            raise
        # The cancel event was never set, so the scheduler holds nothing to free: its workers'
        # is_set() calls create no event there (set() and wait() do). Clearing it anyway was
        # a scheduler round trip at the end of every run (docs/performance.md).
        return self.plan.finish()

    def _send_once(self, task: PartitionTask) -> Any:
        """The task itself when it is small (it then travels with every partition), or a future
        of it scattered to every worker once (a round trip, worth it for large mask stacks)."""
        if len(pickle.dumps(task, protocol=5)) <= self.executor.scatter_min_bytes:
            return task
        [future] = self.client.scatter([task], broadcast=True, hash=False)
        return future

    def _submit_next(self) -> None:
        p, part_roi = self.pending.pop()
        self._submit(p, part_roi, None)

    def _submit(self, p: Partition, part_roi: np.ndarray | None, healthy: list[str] | None) -> None:
        # ``healthy``: submitted again, to the workers that run now (of its nodes, if it is
        # stored on nodes: under their current addresses)
        if healthy:
            workers = _placement(p, self.names, healthy) if p.nodes else healthy
        else:
            workers = _placement(p, self.names, self.slots)
        loose = workers is not None and not p.nodes and not healthy
        fut = self.client.submit(
            _run_on_worker,
            self.task,
            p,
            part_roi,
            self.cancel.name,
            pure=False,
            workers=workers,
            # a preference only, unless the partition is stored on its nodes
            allow_other_workers=loose,
            key=f"partition-{p.index}-{uuid.uuid4().hex[:8]}",
        )
        self.running[fut] = Submitted(p, part_roi, workers, loose)
        self.queue.add(fut)

    def _review(self) -> None:
        """Move the partitions that cannot progress (a worker may hang, pause or leave mid-run,
        or stop before its finished partition's result is fetched: see apps.core.watch) to the
        workers that run now."""
        watch = self.executor.watch
        identity = cluster.scheduler_identity(self.client)
        self.names.clear()
        self.names.update(cluster.names(identity["workers"]))
        processing = self.client.processing()
        finished = [f for f in self.running if f.status == "finished"]
        holding = dict(self.client.who_has(finished)) if finished else {}
        healthy = sorted(watch.healthy(identity))
        for fut in watch.review(self.running, identity, processing, holding):
            moved = self.running.pop(fut)
            fut.cancel()
            self._submit(moved.partition, moved.roi, healthy)

    def _next_done(self) -> Any:
        """``(future, result)`` of the next finished partition; reviews the running ones every
        ``holder_interval`` while it waits."""
        interval = self.executor.holder_interval
        next_review = time.monotonic() + interval
        while True:
            if self.stop is not None and self.stop():
                raise JobCancelled()
            if self.queue.has_ready():
                return next(self.queue)
            if time.monotonic() >= next_review:
                self._review()
                next_review = time.monotonic() + interval
            # Woken by the client's event loop as soon as a partition is in (no polling, which
            # would take the GIL from that loop and the web server 500 times a second).
            with self.queue.thread_condition:
                if not self.queue.has_ready():
                    self.queue.thread_condition.wait(self.executor.wait_interval)

    def _result(self, fut: Any, result: Any, p: Partition) -> tuple[Any, str, float]:
        if fut.status == "finished":
            return result
        try:
            return fut.result()  # raises the task's exception (or CancelledError)
        except CoreError:
            raise
        except Exception as exc:  # a lost worker, a killed process, a bug
            raise partition_failure(p, exc, "on the dask cluster") from exc

    def _stop_running(self) -> None:
        """Tell running partitions to stop at their next tile and wait (briefly) until they have.

        The event stays set until they are done, so no partition keeps computing for a job that
        has already ended; then it is cleared, which frees it on the scheduler.
        """
        futures = list(self.running)
        with contextlib.suppress(Exception):
            self.cancel.set()
            deadline = time.monotonic() + self.executor.cancel_grace
            # distributed.wait() needs a default client; this one is not
            while not all(f.done() for f in futures) and time.monotonic() < deadline:
                time.sleep(0.01)
        with contextlib.suppress(Exception):
            self.client.cancel(futures)
            self.cancel.clear()
