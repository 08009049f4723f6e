"""Run an analysis over a dataset's partitions: in process, or on a dask cluster.

Both executors share one contract::

    run = executor.run(dataset, analysis, roi=roi, on_progress=cb, should_stop=stop)
    run.results        # {name: ndarray}
    run.partitions     # [PartitionRecord(index, start, stop, worker, seconds, nbytes), ...]

``on_progress(frames_done, frames_total, partial_results)`` is called after every merged
partition. ``should_stop()`` is polled; when it turns true the running partitions stop at their
next tile and ``run`` raises :class:`JobCancelled`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from apps.core import cluster, kernels
from apps.core.analyses.base import Analysis, PartitionTask
from apps.core.errors import CoreError, JobCancelled, ParameterError
from apps.core.io.base import DEFAULT_PARTITION_BYTES, DataSet, Partition
from apps.core.watch import PartitionWatch, Submitted

ProgressCallback = Callable[[int, int, dict[str, np.ndarray]], None]
StopCheck = Callable[[], bool]


@dataclass
class PartitionRecord:
    """Where and how fast one partition ran."""

    index: int
    start: int
    stop: int
    worker: str
    seconds: float
    nbytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    results: dict[str, np.ndarray]
    partitions: list[PartitionRecord] = field(default_factory=list)
    frames: int = 0
    nbytes: int = 0
    seconds: float = 0.0


def check_roi(roi: Any, nav_shape: tuple[int, ...]) -> np.ndarray:
    """A scan ROI as a flat boolean array, or ParameterError naming ``roi``."""
    arr = np.asarray(roi)
    if arr.dtype != bool:
        raise ParameterError("roi", f"must be a boolean array, got dtype {arr.dtype}.")
    if arr.shape != nav_shape:
        raise ParameterError(
            "roi", f"must have the scan shape {list(nav_shape)}, got {list(arr.shape)}."
        )
    if not arr.any():
        raise ParameterError("roi", "selects no scan position.")
    return arr.reshape(-1)


class _Plan:
    """The partitions of one run, their ROI slices, and the merge state."""

    def __init__(
        self, dataset: DataSet, analysis: Analysis, roi: Any, partitions: list[Partition]
    ) -> None:
        self.analysis = analysis
        flat = None if roi is None else check_roi(roi, dataset.nav_shape)
        self.work: list[tuple[Partition, np.ndarray | None]] = []
        for p in partitions:
            part_roi = None if flat is None else flat[p.start : p.stop]
            if analysis.wants(p, part_roi):
                self.work.append((p, part_roi))
        self.total = sum(_frames(p, r) for p, r in self.work)
        self.done = 0
        self.state = analysis.new_state()
        self.records: list[PartitionRecord] = []
        self.started = time.perf_counter()

    def merge(
        self,
        p: Partition,
        roi: np.ndarray | None,
        value: Any,
        worker: str,
        secs: float,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.state = self.analysis.merge(self.state, p, value)
        frames = _frames(p, roi)
        self.done += frames
        self.records.append(
            PartitionRecord(
                p.index,
                p.start,
                p.stop,
                worker,
                secs,
                frames * p.frame_size * p.dtype.itemsize,
            )
        )
        if on_progress is not None:
            on_progress(self.done, self.total, self.analysis.results(self.state))

    def finish(self) -> RunResult:
        records = sorted(self.records, key=lambda r: r.index)
        return RunResult(
            results=self.analysis.results(self.state),
            partitions=records,
            frames=self.done,
            nbytes=sum(r.nbytes for r in records),
            seconds=time.perf_counter() - self.started,
        )


def _frames(p: Partition, roi: np.ndarray | None) -> int:
    return p.n_frames if roi is None else int(np.count_nonzero(roi))


class Executor(ABC):
    """Runs analyses; subclasses decide where partitions are computed."""

    #: how many partitions a dataset is split into at least (one per worker)
    workers: int = 1
    #: the size of the partitions a dataset without its own is split into: 512 MiB, the top of
    #: the design's range, because every partition costs a few milliseconds (a memory map, the
    #: merge, a progress report; on dask a task for the scheduler and the driver). Measured on
    #: 4 GiB float32 against 256 MiB: 2 dask workers, ring 22 -> 27 GB/s, sum 12 -> 13 GB/s;
    #: in process, sum 14.9 -> 15.7 GB/s.
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

    @abstractmethod
    def run(
        self,
        dataset: DataSet,
        analysis: Analysis,
        *,
        roi: Any = None,
        on_progress: ProgressCallback | None = None,
        should_stop: StopCheck | None = None,
        partitions: list[Partition] | None = None,
    ) -> RunResult: ...

    def prepare(self) -> None:  # noqa: B027 - nothing to prepare by default
        """Start what the next run needs and can be asked for early (a caller that has other
        work before the run, such as claiming a job, calls this first)."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the executor's resources."""


class InlineExecutor(Executor):
    """Computes every partition in this process, one after the other (tests, small data)."""

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
        plan = _Plan(dataset, analysis, roi, partitions or self.partitions(dataset))
        task = analysis.task()
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
                raise _failure(p, exc, "in this process") from exc
            finally:
                p.close()
            plan.merge(p, part_roi, value, "inline", time.perf_counter() - t0, on_progress)
        return plan.finish()


class ThrottledCheck:
    """Wraps an expensive ``should_stop`` (a database query, a scheduler round trip): calls it at
    most every ``interval`` seconds and remembers a True answer."""

    def __init__(self, check: StopCheck, interval: float = 0.1, *, first: float = 0.0) -> None:
        self.check = check
        self.interval = interval
        # ``first``: seconds before the first call (a round trip saved on short work)
        self._next = time.monotonic() + first if first else 0.0
        self._stopped = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._stopped and now >= self._next:
            self._next = now + self.interval
            self._stopped = bool(self.check())
        return self._stopped


def _failure(p: Partition, exc: BaseException, where: str) -> CoreError:
    """An unexpected exception in a partition as a CoreError naming the file and the partition."""
    path = getattr(p, "path", None)
    source = f"{path}: " if path else ""
    return CoreError(f"{source}{p.label} failed {where}: {type(exc).__name__}: {exc}")


#: Dask settings for the LocalClusters this module starts. By default every scheduler, nanny and
#: worker event loop wakes every 20 ms (a tick that only measures how late the loop runs),
#: samples its process's metrics every 0.5 s, and every worker samples its threads' stacks every
#: 10 ms for the dashboard's profile (which the portal never shows): an idle cluster of two
#: workers took 10 % of a core, on the cores its workers compute on; with these, 2 % (and 43
#: instead of 240 context switches a second).
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
    (see :func:`_worker_slots`)."""
    holders = _holders(p, names)
    if holders is not None:
        return [a for a in holders if a in slots] or holders
    return [slots[p.index % len(slots)]] if slots else None


def _worker_slots(identity: dict[str, Any], healthy: set[str]) -> tuple[dict[str, str], list[str]]:
    """``{worker name: address}`` (names are compared as strings: a sidecar's ``nodes``), and
    each running worker's address once per thread, in a fixed order.

    Partition ``i`` of a dataset stored on no particular node prefers the worker in slot
    ``i`` modulo the slots, run after run: that worker then finds the partition's pages
    in its memory map and in its node's page cache (a first read of page-cached data
    costs a page fault per 64 KiB, 0.16 s of a core per 4 GiB). Another worker may run it
    if that one is gone. Paused and hung workers get no slot (none at all: every worker).
    """
    workers = identity["workers"]
    usable = sorted(a for a in workers if a in healthy) or sorted(workers)
    slots = [
        address
        for address in usable
        for _ in range(max(1, int(workers[address].get("nthreads", 1))))
    ]
    return cluster.names(workers), slots


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
        # The first check waits one interval: a scheduler round trip (2-10 ms) per partition
        # is a large part of a partition's time (512 MiB of a ring: 40 ms); a cancelled run's
        # partitions that have not started are cancelled by the driver instead. The compiled
        # loops run on this task's thread only: the worker's other threads run other
        # partitions, and other workers share the machine's cores.
        with kernels.threads(1):
            value = task(partition, roi, ThrottledCheck(event.is_set, first=0.1))
    except JobCancelled:
        # The driver has already given up on this run; returning (not raising) keeps a
        # cancellation out of the worker's error log.
        value = None
    finally:
        partition.close()
    return value, worker, time.perf_counter() - t0


class DaskExecutor(Executor):
    """Submits one task per partition to a dask cluster and merges in completion order.

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
        round trip (in the web process it waited 5-10 ms, behind Daphne and the request)."""
        self._prepared = (time.monotonic(), cluster.identity_future(self.client))

    @property
    def workers(self) -> int:  # type: ignore[override]
        """The threads of all workers: each computes one partition at a time."""
        return max(1, len(self._workers()[1]))

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
        from distributed import Event, as_completed

        identity = self._identity()  # one scheduler round trip, before any other
        names, slots = _worker_slots(identity, self.watch.healthy(identity))
        threads = len(slots)
        parts = partitions or self.partitions(dataset, min_count=max(1, threads))
        plan = _Plan(dataset, analysis, roi, parts)
        stop = None if should_stop is None else ThrottledCheck(should_stop, self.poll_interval)
        cancel = Event(f"cancel-{uuid.uuid4().hex}", client=self.client)
        task = self._send_once(analysis.task())
        pending = list(reversed(plan.work))
        limit = max(self.in_flight_per_worker * max(1, len(names)), 2 * threads)
        running: dict[Any, Submitted] = {}
        # Results are gathered by the client's event loop as partitions finish, overlapping
        # the transfer with this thread's merging (one round trip per partition, not waited on).
        queue = as_completed(loop=self.client.loop, with_results=True, raise_errors=False)

        def submit(p: Partition, part_roi: np.ndarray | None, healthy: list[str] | None) -> None:
            # ``healthy``: submitted again, to the workers that run now (of its nodes, if it is
            # stored on nodes: under their current addresses)
            if healthy:
                workers = _placement(p, names, healthy) if p.nodes else healthy
            else:
                workers = _placement(p, names, slots)
            loose = workers is not None and not p.nodes and not healthy
            fut = self.client.submit(
                _run_on_worker,
                task,
                p,
                part_roi,
                cancel.name,
                pure=False,
                workers=workers,
                # a preference only, unless the partition is stored on its nodes
                allow_other_workers=loose,
                key=f"partition-{p.index}-{uuid.uuid4().hex[:8]}",
            )
            running[fut] = Submitted(p, part_roi, workers, loose)
            queue.add(fut)

        def review() -> None:
            # A worker may hang, pause or leave mid-run: see apps.core.watch.
            identity = cluster.scheduler_identity(self.client)
            names.clear()
            names.update(cluster.names(identity["workers"]))
            processing = self.client.processing()
            healthy = sorted(self.watch.healthy(identity))
            for fut in self.watch.review(running, identity, processing):
                moved = running.pop(fut)
                fut.cancel()
                submit(moved.partition, moved.roi, healthy)

        def submit_next() -> None:
            p, part_roi = pending.pop()
            submit(p, part_roi, None)

        try:
            while pending and len(running) < limit:
                submit_next()
            while running:
                fut, result = self._next_done(queue, stop, review)
                if fut not in running:  # submitted again elsewhere
                    continue
                done = running.pop(fut)
                p, part_roi = done.partition, done.roi
                value, worker, secs = self._result(fut, result, p)
                plan.merge(p, part_roi, value, worker, secs, on_progress)
                if pending:
                    submit_next()
        except BaseException:
            self._stop_running(cancel, list(running))
            raise
        finally:
            # Workers' is_set() calls create the event on the scheduler; clearing frees it.
            with contextlib.suppress(Exception):
                cancel.clear()
        return plan.finish()

    def _send_once(self, task: PartitionTask) -> Any:
        """The task itself when it is small (it then travels with every partition), or a future
        of it scattered to every worker once (a round trip of about 10 ms, worth it for large
        mask stacks)."""
        if len(pickle.dumps(task, protocol=5)) <= self.scatter_min_bytes:
            return task
        [future] = self.client.scatter([task], broadcast=True, hash=False)
        return future

    def _workers(self) -> tuple[dict[str, str], list[str]]:
        """``{worker name: address}`` and the slots of the workers that run (see
        :func:`_worker_slots`)."""
        identity = self._identity()
        return _worker_slots(identity, self.watch.healthy(identity))

    def _identity(self) -> dict[str, Any]:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and time.monotonic() - prepared[0] < self.prepared_for:
            with contextlib.suppress(Exception):  # a failed early question: ask again
                return dict(prepared[1].result(timeout=self.prepared_for))
        return cluster.scheduler_identity(self.client)

    def _stop_running(self, cancel: Any, futures: list[Any]) -> None:
        """Tell running partitions to stop at their next tile and wait (briefly) until they have.

        The event stays set until they are done, so no partition keeps computing for a job that
        has already ended; then it is cleared, which frees it on the scheduler.
        """
        with contextlib.suppress(Exception):
            cancel.set()
            deadline = time.monotonic() + self.cancel_grace
            # distributed.wait() needs a default client; this one is not
            while not all(f.done() for f in futures) and time.monotonic() < deadline:
                time.sleep(0.01)
        with contextlib.suppress(Exception):
            self.client.cancel(futures)
            cancel.clear()

    def _next_done(
        self, queue: Any, should_stop: StopCheck | None, check: Callable[[], None]
    ) -> Any:
        next_check = time.monotonic() + self.holder_interval
        while True:
            if should_stop is not None and should_stop():
                raise JobCancelled()
            if queue.has_ready():
                return next(queue)
            if time.monotonic() >= next_check:
                check()
                next_check = time.monotonic() + self.holder_interval
            # Woken by the client's event loop as soon as a partition is in (no polling, which
            # would take the GIL from that loop and the web server 500 times a second).
            with queue.thread_condition:
                if not queue.has_ready():
                    queue.thread_condition.wait(self.wait_interval)

    def _result(self, fut: Any, result: Any, p: Partition) -> tuple[Any, str, float]:
        if fut.status == "finished":
            return result
        try:
            return fut.result()  # raises the task's exception (or CancelledError)
        except CoreError:
            raise
        except Exception as exc:  # a lost worker, a killed process, a bug
            raise _failure(p, exc, "on the dask cluster") from exc

    def close(self) -> None:
        # A registration still waiting for a slow worker ends with the client, not as an error.
        self._warm_up.cancel()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
