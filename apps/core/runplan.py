"""What every executor does around the computing: the request, the plan of a run and its result.

An executor turns a :class:`RunRequest` into a :class:`RunPlan` (the partitions the ROI
selects), computes each planned partition somewhere, hands each value to :meth:`RunPlan.merge`
as it arrives and returns :meth:`RunPlan.finish`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from apps.core.analyses.base import Analysis
from apps.core.errors import CoreError, ParameterError
from apps.core.io.base import DataSet, Partition
from apps.core.ops import StopCheck

ProgressCallback = Callable[[int, int, Mapping[str, np.ndarray]], None]


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
    """A run's results, the records of the partitions it computed, and ``ranges``: the
    ``(start, stop)`` of every partition of the run's split (computed or, outside the ROI,
    not), which with the analysis and the data fixes the results' bits."""

    results: dict[str, np.ndarray]
    partitions: list[PartitionRecord] = field(default_factory=list)
    frames: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    ranges: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class RunRequest:
    """The arguments of :meth:`apps.core.executor.Executor.run`."""

    dataset: DataSet
    analysis: Analysis
    roi: Any = None
    on_progress: ProgressCallback | None = None
    should_stop: StopCheck | None = None
    partitions: list[Partition] | None = None


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


class RunPlan:
    """The partitions of one run, their ROI slices, and the merge state.

    Partitions arrive in any order (a dask cluster finishes them as it can) but are folded
    into the state in the plan's order, each one once those before it are in: a reduction's
    floating-point sums then depend only on the partitioning, never on which worker was
    fast, so two runs over the same partitions give the same bits on any executor. The values
    that came early wait in memory for the partition ahead of them. An analysis whose merge
    only places values (``merge_in_order`` false) takes each partition as it arrives.
    """

    def __init__(self, request: RunRequest, partitions: list[Partition]) -> None:
        self.analysis = request.analysis
        self.on_progress = request.on_progress
        flat = None if request.roi is None else check_roi(request.roi, request.dataset.nav_shape)
        #: ``(partition, its slice of the ROI)`` for every partition the analysis wants
        self.work: list[tuple[Partition, np.ndarray | None]] = []
        for p in partitions:
            part_roi = None if flat is None else flat[p.start : p.stop]
            if self.analysis.wants(p, part_roi):
                self.work.append((p, part_roi))
        self.total = sum(_frames(p, r) for p, r in self.work)
        self.done = 0
        self.state = self.analysis.new_state()
        self.records: list[PartitionRecord] = []
        self.started = time.perf_counter()
        self.ranges = [(p.start, p.stop) for p in partitions]
        #: the place in ``work`` of each partition, by index, and the values that arrived
        #: before a partition ahead of them
        self._place = {p.index: k for k, (p, _) in enumerate(self.work)}
        self._early: dict[int, tuple[Partition, Any, int]] = {}
        self._folded = 0

    def merge(
        self, p: Partition, roi: np.ndarray | None, value: Any, worker: str, secs: float
    ) -> None:
        """Take partition ``p``'s value, fold every value now due into the state (in the plan's
        order, unless the analysis merges in any order) and report the progress: the frames
        folded, which the partial results show."""
        frames = _frames(p, roi)
        nbytes = frames * p.frame_size * p.dtype.itemsize
        self.records.append(PartitionRecord(p.index, p.start, p.stop, worker, secs, nbytes))
        if not self.analysis.merge_in_order:
            self.state = self.analysis.merge(self.state, p, value)
            self.done += frames
            self._report()
            return
        self._early[self._place[p.index]] = (p, value, frames)
        if self._folded not in self._early:
            return
        while self._folded in self._early:
            part, early, count = self._early.pop(self._folded)
            self.state = self.analysis.merge(self.state, part, early)
            self.done += count
            self._folded += 1
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, PartialResults(self.analysis, self.state))

    def finish(self) -> RunResult:
        records = sorted(self.records, key=lambda r: r.index)
        return RunResult(
            results=self.analysis.results(self.state),
            partitions=records,
            frames=self.done,
            nbytes=sum(r.nbytes for r in records),
            seconds=time.perf_counter() - self.started,
            ranges=self.ranges,
        )


class PartialResults(Mapping[str, np.ndarray]):
    """The partial results of a state, computed on first use: a progress callback that sends
    a preview a few times a second reads them, one that skips a report does not pay for them
    (an FFT over the scan for iCoM or SSB). Read them in the callback: the state moves on."""

    def __init__(self, analysis: Analysis, state: Any) -> None:
        self._analysis, self._state = analysis, state
        self._results: dict[str, np.ndarray] | None = None

    def _computed(self) -> dict[str, np.ndarray]:
        if self._results is None:
            self._results = self._analysis.results(self._state)
        return self._results

    def __getitem__(self, name: str) -> np.ndarray:
        return self._computed()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._computed())

    def __len__(self) -> int:
        return len(self._computed())

    def __bool__(self) -> bool:
        return True  # results exist (the analysis' declared ones); no need to compute them


def pass_progress(
    on_progress: ProgressCallback | None, k: int, passes: int
) -> ProgressCallback | None:
    """``on_progress`` for pass ``k`` of ``passes`` over the same frames: the frames of the
    passes before count as done, those of all passes as the total."""
    if on_progress is None or passes == 1:
        return on_progress

    def report(done: int, total: int, partial: Mapping[str, np.ndarray]) -> None:
        on_progress(k * total + done, passes * total, partial)

    return report


def combine_passes(runs: list[RunResult]) -> RunResult:
    """One result for the passes of a run: the last pass's results, the records, frames, bytes
    and seconds of all."""
    return RunResult(
        results=runs[-1].results,
        partitions=[r for run in runs for r in run.partitions],
        frames=sum(run.frames for run in runs),
        nbytes=sum(run.nbytes for run in runs),
        seconds=sum(run.seconds for run in runs),
        ranges=runs[0].ranges,
    )


def _frames(p: Partition, roi: np.ndarray | None) -> int:
    return p.n_frames if roi is None else int(np.count_nonzero(roi))


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


def partition_failure(p: Partition, exc: BaseException, where: str) -> CoreError:
    """An unexpected exception in a partition as a CoreError naming the file and the partition."""
    path = getattr(p, "path", None)
    source = f"{path}: " if path else ""
    return CoreError(f"{source}{p.label} failed {where}: {type(exc).__name__}: {exc}")
