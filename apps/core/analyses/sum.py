"""Sum, mean and maximum frame over the scan (or over the frames inside a scan ROI).

Parameter ``max`` (default true): also take the pixel-wise maximum. The portal shows the
maximum frame beside the sum and the mean, so it is on by default; ``max = false`` gives the
sum and the mean alone, from a loop with fewer instructions (the same sums, bit for bit).

Results ``sum``, ``mean`` and ``max`` (``max`` only with ``max = true``): ``sig_shape``,
float64 (accumulated in float64 over tiles converted to the compute dtype). Only frames inside
the ROI contribute; ``mean = sum / count``; while no frame has arrived ``mean`` and ``max`` are
NaN.
"""

from __future__ import annotations

import numpy as np

from apps.core.analyses.base import Analysis, PartitionTask
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.io.base import Partition
from apps.core.ops import StopCheck, sum_frames

SumState = tuple[np.ndarray, np.ndarray | None, int]
"""``(sum, max, count)``: flat ``(c,)`` float64 arrays (``max`` None when it is not taken)
and the number of frames summed."""


class SumTask(PartitionTask):
    """:func:`apps.core.ops.sum_frames` on one partition."""

    def __init__(self, maximum: bool = True) -> None:
        self.maximum = maximum

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> SumState:
        return sum_frames(partition, roi=roi, should_stop=should_stop, maximum=self.maximum)


class SumAnalysis(Analysis):
    """Sum, mean and maximum of the frames (the ROI's frames when a scan ROI is given)."""

    declaration = AnalysisDeclaration(
        name="sum",
        title="Sum, mean, max frame",
        summary="Sum, mean and maximum over all frames (or the frames inside the scan ROI).",
        help="Sum, mean and maximum over all frames (or the scan ROI), shown on the detector view.",
        params=(
            Param(
                "max",
                "boolean",
                "Also take the pixel-wise maximum frame (off: the sum and mean alone, faster).",
                default=True,
            ),
        ),
        results=(
            Result("sum", "sig", "Sum of the frames.", unit="data", dtype="float64"),
            Result(
                "mean", "sig", "Mean frame (sum / number of frames).", unit="data", dtype="float64"
            ),
            Result(
                "max",
                "sig",
                "Pixel-wise maximum over the frames (only with max = true).",
                unit="data",
                dtype="float64",
            ),
        ),
        preview="mean",
    )

    def task(self) -> PartitionTask:
        return SumTask(maximum=self.params["max"])

    def new_state(self) -> SumState:
        c = int(np.prod(self.sig_shape))
        peak = np.full(c, -np.inf, dtype=np.float64) if self.params["max"] else None
        return np.zeros(c, dtype=np.float64), peak, 0

    def merge(self, state: SumState, partition: Partition, result: SumState) -> SumState:
        total, peak, count = state
        part_total, part_peak, part_count = result
        total += part_total
        if peak is not None and part_peak is not None:
            np.maximum(peak, part_peak, out=peak)
        return total, peak, count + part_count

    def results(self, state: SumState) -> dict[str, np.ndarray]:
        total, peak, count = state
        out = {"sum": total.reshape(self.sig_shape).copy()}
        if count == 0:
            out["mean"] = np.full(self.sig_shape, np.nan)
        else:
            out["mean"] = (total / count).reshape(self.sig_shape)
        if peak is not None:
            out["max"] = (
                np.full(self.sig_shape, np.nan)
                if count == 0
                else peak.reshape(self.sig_shape).copy()
            )
        return out
