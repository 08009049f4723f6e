"""Live processing: frame blocks into running analyses, the same per-partition code the file
executors run.

Each arriving :class:`~apps.core.live.stream.FrameBlock` becomes a :class:`BlockPartition`
(frames ``[start, stop)`` held in memory) and goes through every analysis's
:meth:`~apps.core.analyses.base.Analysis.task` and
:meth:`~apps.core.analyses.base.Analysis.merge`, exactly as a partition of a file does; the
partial results are therefore those of a run over the frames received so far (frames that
have not arrived are NaN in per-frame results). :func:`receive` drives one acquisition:
reception in its own thread (a slow analysis never stalls the socket beyond a bounded queue),
processing and recording in the caller's.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from apps.core.analyses import Analysis, make_analysis
from apps.core.errors import CoreError, ParameterError
from apps.core.io.base import Partition
from apps.core.live.changes import catch_up
from apps.core.live.recording import Recording, check_free
from apps.core.live.stream import DetectorSource, FrameBlock, FrameLedger, StreamInfo
from apps.core.ops import StopCheck

#: ``on_partial(frames_received, frames_expected, results)``: ``results`` one dict per analysis
PartialCallback = Callable[[int, int, list[dict[str, np.ndarray]]], None]
#: seconds between partial results (at least four a second)
PARTIAL_INTERVAL = 0.25
#: blocks waiting between reception and processing (about 4 MiB each)
QUEUE_BLOCKS = 32


class BlockPartition(Partition):
    """Frames ``[start, stop)`` that arrived from a detector, ``(k, c)`` in memory."""

    def __init__(self, *, frames: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frames = frames

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        return self._frames[start - self.start : stop - self.start]


class LiveRun:
    """Several analyses fed block by block; partial results at most every ``interval`` s."""

    def __init__(
        self,
        analyses: Sequence[Analysis],
        info: StreamInfo,
        *,
        on_partial: PartialCallback | None = None,
        interval: float = PARTIAL_INTERVAL,
    ) -> None:
        for a in analyses:
            if a.passes > 1:
                raise ParameterError(
                    "analysis",
                    f"{a.name} needs {a.passes} passes over the frames; a live run "
                    "makes one (run it on the recording afterwards).",
                )
        self.analyses = list(analyses)
        self.info = info
        self.tasks = [a.task() for a in self.analyses]
        self.states = [a.new_state() for a in self.analyses]
        self.on_partial = on_partial
        self.interval = interval
        self.frames = 0
        self.blocks = 0
        self._next_partial = time.monotonic() + interval

    def feed(self, block: FrameBlock) -> None:
        p = BlockPartition(
            frames=block.frames,
            index=self.blocks,
            start=block.start,
            stop=block.stop,
            sig_shape=self.info.sig_shape,
            dtype=self.info.dtype,
        )
        for i, (analysis, task) in enumerate(zip(self.analyses, self.tasks, strict=True)):
            if analysis.wants(p, None):
                self.states[i] = analysis.merge(self.states[i], p, task(p, None, None))
        self.blocks += 1
        self.frames += p.n_frames
        if self.on_partial is not None and time.monotonic() >= self._next_partial:
            self.publish()

    def replace(self, index: int, analysis: Analysis, state: Any) -> None:
        """Put ``analysis`` at ``index`` (``len(analyses)``: append it) with ``state``, its
        merge over the frames so far; it then continues with the next block."""
        if analysis.passes > 1:
            raise ParameterError("analysis", f"{analysis.name} needs more than one pass.")
        if index == len(self.analyses):
            self.analyses.append(analysis)
            self.tasks.append(analysis.task())
            self.states.append(state)
        else:
            self.analyses[index] = analysis
            self.tasks[index] = analysis.task()
            self.states[index] = state

    def publish(self) -> None:
        """Hand the current results to ``on_partial`` now."""
        # On a fixed cadence: a block arrives a little after each deadline, and counting the
        # next interval from then would drift below 1/interval updates a second.
        now = time.monotonic()
        due = self._next_partial + self.interval
        self._next_partial = due if due > now else now + self.interval
        if self.on_partial is not None:
            self.on_partial(self.frames, self.info.n_frames, self.results())

    def results(self) -> list[dict[str, np.ndarray]]:
        return [a.results(s) for a, s in zip(self.analyses, self.states, strict=True)]


@dataclass
class LiveResult:
    """One received acquisition: what the detector announced, the ledger's report, the
    analyses with their results, the seconds from arming to the last frame processed and the
    recording's sidecar (None without a recording)."""

    info: StreamInfo
    report: dict[str, Any]
    analyses: list[Analysis]
    results: list[dict[str, np.ndarray]]
    seconds: float
    recording: str | None

    @property
    def frames_per_second(self) -> float:
        received = self.report["frames_received"]
        return received / self.seconds if self.seconds > 0 else 0.0


AnalysisSpec = tuple[str, Mapping[str, Any]]
#: ``changes(ledger)`` -> ``[(index, (name, params)), ...]``: analyses to replace or add now
ChangeCheck = Callable[[FrameLedger], Sequence[tuple[int, AnalysisSpec]]]


def build_analyses(specs: Sequence[AnalysisSpec], info: StreamInfo) -> list[Analysis]:
    """The analyses ``(name, params)`` for the acquisition ``info`` describes."""
    return [
        make_analysis(
            name, params, nav_shape=info.nav_shape, sig_shape=info.sig_shape, dtype=info.dtype
        )
        for name, params in specs
    ]


def receive(
    source: DetectorSource,
    specs: Sequence[AnalysisSpec],
    *,
    record: str | None = None,
    on_partial: PartialCallback | None = None,
    interval: float = PARTIAL_INTERVAL,
    keep_open: bool = False,
    should_stop: StopCheck | None = None,
    changes: ChangeCheck | None = None,
    on_start: Callable[[StreamInfo], None] | None = None,
) -> LiveResult:
    """Arm ``source``, run the analyses ``specs`` over its acquisition and record it into the
    folder ``record``.

    A stream that breaks off ends the run with what arrived: the report's state is ``failed``
    with the reason, the results and the recording hold the frames received. Bad parameters
    raise before any frame is read. ``keep_open`` keeps the source's connection after a
    complete acquisition for the next (a detector's data connection is meant to stay).
    ``should_stop()`` is asked after every block; True ends the run (state ``stopped``) with
    what arrived. ``changes(ledger)`` too: the ``(index, (name, params))`` it returns replace
    analysis ``index`` (or add one at the end), computed at once over the frames received so
    far, read back from the recording (:func:`apps.core.live.changes.catch_up`).
    ``on_start(info)`` is called once the detector announced the acquisition.
    """
    if record is not None:
        check_free(record)
    try:
        info = source.start()
        started = time.perf_counter()
        run = LiveRun(build_analyses(specs, info), info, on_partial=on_partial, interval=interval)
        recording = None if record is None else Recording(record, info)
        if on_start is not None:
            on_start(info)
    except BaseException:
        source.close()
        raise
    ledger = FrameLedger(info.n_frames)
    error = None
    stopped = False
    try:
        with contextlib.closing(_received(source)) as blocks, _one_blas_thread():
            for block in blocks:
                ledger.add(block)
                if recording is not None:
                    recording.write(block)
                run.feed(block)
                if changes is not None:
                    _apply(changes(ledger), run, ledger, recording)
                # a stop once the scan's last frame is in changes nothing: the scan ended
                if should_stop is not None and not ledger.arrived[-1] and should_stop():
                    stopped, error = True, "stopped before the acquisition ended"
                    break
    except CoreError as exc:
        error = str(exc)
    except BaseException:
        if recording is not None:
            recording.abandon()
        source.close()
        raise
    if error is not None or not keep_open:
        source.close()
    seconds = time.perf_counter() - started
    report = ledger.report(error=error, stopped=stopped)
    run.publish()
    sidecar = None if recording is None else str(recording.finish(report))
    return LiveResult(info, report, run.analyses, run.results(), seconds, sidecar)


def _apply(
    changed: Sequence[tuple[int, AnalysisSpec]],
    run: LiveRun,
    ledger: FrameLedger,
    recording: Recording | None,
) -> None:
    for index, spec in changed:
        (analysis,) = build_analyses([spec], run.info)
        state = catch_up(analysis, run.info, ledger.arrived, recording)
        run.replace(index, analysis, state)
    if changed:
        run.publish()


_END = object()


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS products of the processing thread on one thread while frames arrive.

    The reading and decompressing threads hold the other cores; OpenBLAS's own threads then
    spin waiting for a core, and a GEMV over one block of 28 DECTRIS frames (the mask
    product for 32-bit integers) measured 3.6-20 ms on two threads against 0.07-0.16 ms on
    one (2 cores, loaded). Process-wide for the duration (OpenBLAS has no per-thread
    setting), as LiberTEM's workers and dask's run with one BLAS thread.
    """
    return threadpool_limits(limits=1, user_api="blas")


def _received(source: DetectorSource) -> Generator[FrameBlock, None, None]:
    """``source``'s blocks, read by a thread of their own into a bounded queue; an error of
    the stream is raised here after the blocks before it."""
    q: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BLOCKS)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for block in source.blocks():
                if not put(block):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, who raises it
            put(exc)

    thread = threading.Thread(target=pump, name="live-receiver", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=1)
        if thread.is_alive():  # the consumer stopped early: wake the receiver
            source.stop()
            thread.join(timeout=30)
