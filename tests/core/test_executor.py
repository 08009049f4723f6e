"""Executors: progress, partial results, records, cancellation and partition errors.

The dask tests share one LocalCluster of 2 worker processes for this module.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core import cluster
from apps.core.analyses import make_analysis
from apps.core.analyses.base import Analysis
from apps.core.errors import CoreError, DataSetError, JobCancelled, ParameterError
from apps.core.executor import DaskExecutor, Executor, InlineExecutor
from apps.core.io import DataSet, open_dataset
from apps.core.io.base import Partition
from apps.core.io.mapped import MappedPartition
from apps.core.io.raw import write_sidecar
from apps.core.runplan import ThrottledCheck, check_roi

NAV, SIG = (7, 13), (33, 47)

# Another local cluster (a developer's, a parallel run) may hold the default HTTP port.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")
DISK = {"shape": "disk", "cx": 29.3, "cy": 12.6, "r": 7.5}


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(n_workers=2, cluster_kwargs={"memory_limit": "1GiB"})
    yield executor
    executor.close()


@pytest.fixture(params=["inline", "dask"])
def executor(request: pytest.FixtureRequest) -> Executor:
    if request.param == "inline":
        return InlineExecutor()
    return request.getfixturevalue("dask_executor")


def scan(
    tmp_path: Path, *, parts: int = 3, nodes: list[str] | None = None
) -> tuple[np.ndarray, DataSet]:
    """A ``<u2`` scan in ``parts`` partition files with a sidecar."""
    rng = np.random.default_rng(2)
    data = (rng.integers(0, 1000, (91, *SIG)) + np.arange(SIG[1])).astype("<u2")
    cuts = np.linspace(0, 91, parts + 1).astype(int)
    entries = []
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        (tmp_path / f"part-{i}.raw").write_bytes(data[lo:hi].tobytes())
        entries.append(
            {"path": f"part-{i}.raw", "start": int(lo), "stop": int(hi), "nodes": nodes or []}
        )
    meta = {"dtype": "<u2", "nav_shape": list(NAV), "sig_shape": list(SIG), "partitions": entries}
    write_sidecar(tmp_path / "scan.json", meta)
    return data.reshape(*NAV, *SIG), open_dataset(str(tmp_path / "scan.json"))


def virtual(ds: DataSet) -> Analysis:
    return make_analysis(
        "virtual", DISK, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )


def reference(data: np.ndarray) -> np.ndarray:
    yy, xx = np.indices(SIG)
    disk = (yy - 12.6) ** 2 + (xx - 29.3) ** 2 <= 7.5**2
    return np.einsum("abij,ij->ab", data.astype(np.float64), disk.astype(np.float64))


class Progress:
    def __init__(self, on_first: Any = None) -> None:
        self.calls: list[tuple[int, int, np.ndarray]] = []
        self.on_first = on_first

    def __call__(self, done: int, total: int, partial: dict[str, np.ndarray]) -> None:
        self.calls.append((done, total, partial["intensity"].copy()))
        if self.on_first is not None:
            self.on_first()


# ---- progress, partial results, records --------------------------------------------------------


def test_progress_grows_to_the_total_with_nan_where_partitions_are_missing(
    tmp_path: Path, executor: Executor
) -> None:
    data, ds = scan(tmp_path, parts=5)
    progress = Progress()
    run = executor.run(ds, virtual(ds), on_progress=progress)
    dones = [c[0] for c in progress.calls]
    # the virtual image's rows are placed as each partition arrives (in any order): one
    # progress report per partition, each showing the partitions in so far, whole
    assert len(dones) == 5 and dones == sorted(set(dones)) and dones[-1] == 91
    assert {c[1] for c in progress.calls} == {91}
    bounds = [(p.start, p.stop) for p in ds.partitions()]
    for done, _total, partial in progress.calls:
        finite = np.isfinite(partial.reshape(-1))
        assert finite.sum() == done
        for lo, hi in bounds:
            assert finite[lo:hi].all() or not finite[lo:hi].any()
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)


def test_records_describe_every_partition(tmp_path: Path, executor: Executor) -> None:
    _data, ds = scan(tmp_path, parts=4)
    roi = np.zeros(NAV, bool)
    roi[:, :4] = True
    run = executor.run(ds, virtual(ds), roi=roi)
    parts = ds.partitions()
    assert [(r.index, r.start, r.stop) for r in run.partitions] == [
        (p.index, p.start, p.stop) for p in parts
    ]
    per_part = [int(roi.reshape(-1)[p.start : p.stop].sum()) for p in parts]
    assert [r.nbytes for r in run.partitions] == [n * SIG[0] * SIG[1] * 2 for n in per_part]
    workers = {"inline"} if isinstance(executor, InlineExecutor) else {"0", "1"}
    assert all(r.worker in workers and r.seconds > 0 for r in run.partitions)
    assert run.frames == roi.sum() and run.nbytes == sum(r.nbytes for r in run.partitions)
    assert run.seconds > 0 and run.partitions[0].as_dict()["index"] == 0


@pytest.mark.parametrize(
    ("roi", "words"),
    [
        (np.ones(NAV, int), "boolean"),
        (np.ones((13, 7), bool), "[7, 13]"),
        (np.zeros(NAV, bool), "no scan position"),
    ],
)
def test_bad_rois_are_refused(roi: np.ndarray, words: str) -> None:
    with pytest.raises(ParameterError, match=words.replace("[", r"\[")) as info:
        check_roi(roi, NAV)
    assert info.value.field == "roi"


# ---- cancellation -------------------------------------------------------------------------------


def test_inline_stops_before_the_next_partition(tmp_path: Path) -> None:
    _data, ds = scan(tmp_path, parts=5)
    stop = {"now": False}
    progress = Progress(on_first=lambda: stop.update(now=True))
    with pytest.raises(JobCancelled):
        InlineExecutor().run(ds, virtual(ds), on_progress=progress, should_stop=lambda: stop["now"])
    assert len(progress.calls) == 1


def test_dask_raises_promptly_when_cancelled_after_the_first_progress(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    _data, ds = scan(tmp_path, parts=30)
    # 3 frames at 10 ms each: 0.45 s for all 30 on two workers, longer than a stop check takes
    parts = slow_partitions(ds, tmp_path / "reads.log", delay=0.01)
    stop = {"now": False}
    progress = Progress(on_first=lambda: stop.update(now=True))
    t0 = time.monotonic()
    with pytest.raises(JobCancelled):
        dask_executor.run(
            ds,
            virtual(ds),
            partitions=parts,
            on_progress=progress,
            should_stop=lambda: stop["now"],
        )
    assert time.monotonic() - t0 < 5
    assert 1 <= len(progress.calls) < 30


class SlowPartition(MappedPartition):
    """Reads one frame per tile, slowly, and logs every read to the file ``log``."""

    delay = 0.1
    log = ""

    def read(self, start: int, stop: int) -> np.ndarray:
        time.sleep(self.delay)
        with open(self.log, "a") as f:
            f.write(f"{start}\n")
        return super().read(start, stop)

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        return super().tiles(tile_frames=1, roi=roi)


def slow_partitions(ds: DataSet, log: Path, delay: float = 0.1) -> list[Partition]:
    parts = []
    for p in ds.partitions():
        slow = SlowPartition(
            index=p.index,
            start=p.start,
            stop=p.stop,
            sig_shape=p.sig_shape,
            dtype=p.dtype,
            path=p.path,  # type: ignore[attr-defined]
            offset=p.offset,  # type: ignore[attr-defined]
        )
        slow.log = str(log)
        slow.delay = delay
        parts.append(slow)
    return parts


class StopAfterFirstRead:
    """A ``should_stop`` that turns true ``seconds`` after the first read in ``log``."""

    def __init__(self, log: Path, seconds: float) -> None:
        self.log, self.seconds = log, seconds
        self.started: float | None = None

    def __call__(self) -> bool:
        if self.started is None and self.log.exists():
            self.started = time.monotonic()
        return self.started is not None and time.monotonic() - self.started > self.seconds


def test_dask_partitions_stop_at_their_next_tile(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    _data, ds = scan(tmp_path, parts=2)
    log = tmp_path / "reads.log"
    parts = slow_partitions(ds, log)  # 45 and 46 frames at 0.1 s: more than 4 s each
    should_stop = StopAfterFirstRead(log, 0.3)
    with pytest.raises(JobCancelled):
        dask_executor.run(ds, virtual(ds), partitions=parts, should_stop=should_stop)
    # run() returns only after the running partitions stopped: well before they could finish,
    # and no partition reads on afterwards
    assert should_stop.started is not None and time.monotonic() - should_stop.started < 3
    reads = len(log.read_text().split())
    time.sleep(0.5)
    assert len(log.read_text().split()) == reads and 2 <= reads < 30


def test_inline_stops_a_running_partition_within_a_poll_interval(tmp_path: Path) -> None:
    _data, ds = scan(tmp_path, parts=1)
    log = tmp_path / "reads.log"

    with pytest.raises(JobCancelled):
        InlineExecutor().run(
            ds,
            virtual(ds),
            partitions=slow_partitions(ds, log),
            should_stop=StopAfterFirstRead(log, 0.3),
        )
    assert 2 <= len(log.read_text().split()) <= 6  # of 91: 0.1 s per tile, polled every 0.1 s


# ---- errors ---------------------------------------------------------------------------------------


def test_a_truncated_file_fails_naming_the_file_and_partition(
    tmp_path: Path, executor: Executor
) -> None:
    _data, ds = scan(tmp_path, parts=3)
    victim = tmp_path / "part-1.raw"
    os.truncate(victim, victim.stat().st_size - 100)  # after the dataset was opened
    with pytest.raises(DataSetError) as info:
        executor.run(ds, virtual(ds))
    message = str(info.value)
    assert str(victim) in message and "partition 1 (frames 30-59)" in message
    assert "too short" in message


class BrokenPartition(MappedPartition):
    """A partition whose storage fails in a way no reader foresaw."""

    def read(self, start: int, stop: int) -> np.ndarray:
        raise OSError(5, "Input/output error")


def test_an_unexpected_error_names_the_file_and_partition(
    tmp_path: Path, executor: Executor
) -> None:
    _data, ds = scan(tmp_path, parts=2)
    p = ds.partitions()[1]
    parts = [
        ds.partitions()[0],
        BrokenPartition(
            index=1,
            start=p.start,
            stop=p.stop,
            sig_shape=SIG,
            dtype=p.dtype,
            path=p.path,
            offset=0,  # type: ignore[attr-defined]
        ),
    ]
    with pytest.raises(CoreError) as info:
        executor.run(ds, virtual(ds), partitions=parts)
    message = str(info.value)
    assert p.path in message and "partition 1 (frames 45-90)" in message  # type: ignore[attr-defined]
    assert "Input/output error" in message


def test_dask_fails_a_partition_whose_nodes_are_gone_naming_it(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    # Never a silent read over the network: a partition runs only where it is stored.
    _, ds = scan(tmp_path, parts=3, nodes=["node-that-left"])
    with pytest.raises(CoreError, match=r"partition 0 .* node\(s\) node-that-left, and none"):
        dask_executor.run(ds, virtual(ds))


def test_dask_pins_partitions_to_their_nodes(tmp_path: Path, dask_executor: DaskExecutor) -> None:
    data, ds = scan(tmp_path, parts=4, nodes=["1"])
    run = dask_executor.run(ds, virtual(ds))
    assert {r.worker for r in run.partitions} == {"1"}
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)


def test_dask_workers_load_the_compiled_loops_when_they_start(dask_executor: DaskExecutor) -> None:
    def loaded() -> bool:
        import sys

        return {"apps.core.fold_jit", "apps.core.masks_jit"} <= set(sys.modules)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(dask_executor.client.run(loaded).values()):
            break
        time.sleep(0.2)
    assert all(dask_executor.client.run(loaded).values())


def test_each_partition_runs_on_the_same_worker_run_after_run(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    data, ds = scan(tmp_path, parts=6)
    placed = []
    for _ in range(3):
        run = dask_executor.run(ds, virtual(ds))
        np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)
        placed.append({r.index: r.worker for r in run.partitions})
    assert placed[0] == placed[1] == placed[2]
    # spread over both single-threaded workers, in turn
    assert [placed[0][i] for i in range(6)] == [placed[0][0], placed[0][1]] * 3
    assert placed[0][0] != placed[0][1]


class Questions(list):
    """The clients the executor asked the scheduler for its workers with; ``ask`` asks it."""

    ask: Any


def scheduler_questions(executor: DaskExecutor, monkeypatch: pytest.MonkeyPatch) -> Questions:
    executor.holder_interval = 60.0  # no mid-run check of the holders, however slow the run
    asked = Questions()
    asked.ask = cluster.scheduler_identity

    def counted(client: Any) -> dict[str, Any]:
        asked.append(client)
        return asked.ask(client)

    monkeypatch.setattr(cluster, "scheduler_identity", counted)
    return asked


def test_a_dask_run_asks_the_scheduler_for_its_workers_once(
    tmp_path: Path, dask_executor: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each question is a round trip through the scheduler, before the first partition starts.
    data, ds = scan(tmp_path, parts=4)
    asked = scheduler_questions(dask_executor, monkeypatch)
    run = dask_executor.run(ds, virtual(ds))
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)
    assert len(asked) == 1


def test_a_dask_run_sends_its_partitions_without_the_clients_10_ms_batching(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    # dask's client sends at most one batch every 10 ms: the second partition's message
    # waited for it while its worker idled. The stream is made anew on a reconnect, with
    # dask's interval again: every run sets it.
    data, ds = scan(tmp_path, parts=2)
    dask_executor.client.scheduler_comm.interval = 0.01
    run = dask_executor.run(ds, virtual(ds))
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)
    assert dask_executor.client.scheduler_comm.interval <= 0.001


def _scheduler_events(executor: DaskExecutor) -> list[str]:
    def names(dask_scheduler: Any) -> list[str]:
        return [str(n) for n in dask_scheduler.extensions["events"]._events]

    return executor.client.run_on_scheduler(names)


def test_a_dask_run_leaves_no_event_on_the_scheduler_and_ends_without_a_round_trip(
    tmp_path: Path, dask_executor: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run that ends normally never set its cancel event, so there is nothing to clear (a
    # round trip through the scheduler); a cancelled run clears the event it set.
    import distributed

    cleared: list[str] = []
    clear = distributed.Event.clear
    monkeypatch.setattr(
        distributed.Event, "clear", lambda self: (cleared.append(self.name), clear(self))[1]
    )
    data, ds = scan(tmp_path, parts=4)
    run = dask_executor.run(ds, virtual(ds))
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)
    assert cleared == []
    assert not [n for n in _scheduler_events(dask_executor) if n.startswith("cancel-")]

    parts = slow_partitions(ds, tmp_path / "reads.log", delay=0.05)
    with pytest.raises(JobCancelled):
        dask_executor.run(ds, virtual(ds), partitions=parts, should_stop=lambda: True)
    assert len(cleared) == 1
    assert not [n for n in _scheduler_events(dask_executor) if n.startswith("cancel-")]


def test_dask_workers_keep_their_memory_maps_to_half_their_memory_limit(
    dask_executor: DaskExecutor,
) -> None:
    def budget() -> int:
        from apps.core.io import mapping

        return mapping.MAX_BYTES

    # the fixture's workers have a limit of 1 GiB: dask counts mapped file pages in it
    assert set(dask_executor.client.run(budget).values()) == {2**29}


def test_throttled_check_calls_at_most_every_interval_and_latches() -> None:
    answers = iter([False, True, False])
    calls: list[float] = []

    def check() -> bool:
        calls.append(time.monotonic())
        return next(answers)

    throttled = ThrottledCheck(check, interval=0.05)
    assert throttled() is False and throttled() is False and len(calls) == 1
    time.sleep(0.06)
    assert throttled() is True and len(calls) == 2
    time.sleep(0.06)
    assert throttled() is True and len(calls) == 2  # a True answer is final


def test_throttled_check_can_wait_an_interval_before_its_first_call() -> None:
    calls: list[float] = []
    throttled = ThrottledCheck(lambda: calls.append(1.0) or False, interval=0.05, first=0.05)
    assert throttled() is False and calls == []  # short work never pays the round trip
    time.sleep(0.06)
    assert throttled() is False and calls == [1.0]


def test_dask_gives_every_worker_thread_a_partition(tmp_path: Path) -> None:
    # One worker with two threads: the dataset is split for two, and both partitions are
    # computed (each single-threaded) and merged into the reference.
    data, ds = scan(tmp_path, parts=1)
    executor = DaskExecutor(
        n_workers=1, cluster_kwargs={"threads_per_worker": 2, "memory_limit": "1GiB"}
    )
    try:
        assert executor.workers == 2
        run = executor.run(ds, virtual(ds))
    finally:
        executor.close()
    assert [r.index for r in run.partitions] == [0, 1]
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)


def intervals(server: Any) -> tuple[float, float]:
    """Milliseconds between a dask server's ticks, and between its metrics samples."""
    callbacks = server.periodic_callbacks
    return callbacks["tick"].callback_time, callbacks["monitor"].callback_time


def test_the_local_cluster_wakes_its_event_loops_rarely(dask_executor: DaskExecutor) -> None:
    client = dask_executor.client
    assert set(client.run(lambda dask_worker: intervals(dask_worker)).values()) == {(200, 2000)}
    # no statistical profiler sampling the workers' stacks every 10 ms
    profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert set(profiling.values()) == {False}
    assert client.run_on_scheduler(lambda dask_scheduler: intervals(dask_scheduler)) == (200, 2000)


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh", "stale"])
def test_a_prepared_dask_run_uses_the_workers_asked_for_early(
    tmp_path: Path, dask_executor: DaskExecutor, monkeypatch: pytest.MonkeyPatch, fresh: bool
) -> None:
    # prepare() sends the question before the caller's own work (a job's claim); the run that
    # follows soon waits for no round trip of its own (a stale answer is not used), and the
    # next run asks afresh.
    data, ds = scan(tmp_path, parts=4)
    asked = scheduler_questions(dask_executor, monkeypatch)
    dask_executor.prepare()
    if not fresh:
        dask_executor.prepared_for = 0.0  # older than the executor accepts
    run = dask_executor.run(ds, virtual(ds))
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)
    assert len(asked) == (0 if fresh else 1)
    dask_executor.run(ds, virtual(ds))
    assert len(asked) == (1 if fresh else 2)
    workers = {str(w["name"]) for w in asked.ask(dask_executor.client)["workers"].values()}
    assert {r.worker for r in run.partitions} <= workers


def test_partial_results_are_computed_only_when_a_callback_reads_them(tmp_path: Path) -> None:
    """An FFT over the scan (iCoM, SSB) per merged partition would cost more than the data:
    a progress report that does not read its partial results does not compute them."""
    data, ds = scan(tmp_path, parts=5)
    task = virtual(ds)
    computed: list[int] = []
    results = task.results

    def counting(state: Any) -> dict[str, np.ndarray]:
        computed.append(1)
        return results(state)

    task.results = counting  # type: ignore[method-assign]
    read: list[np.ndarray] = []

    def on_progress(done: int, total: int, partial: Any) -> None:
        assert partial  # there are results, without computing them
        if done == total:
            read.append(np.array(partial["intensity"]))

    run = InlineExecutor().run(ds, task, on_progress=on_progress)
    assert len(computed) == 2  # the read in the last report, and the run's own results
    np.testing.assert_array_equal(read[0], run.results["intensity"])
    np.testing.assert_allclose(run.results["intensity"], reference(data), rtol=1e-5)
