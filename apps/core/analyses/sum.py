"""Sum, mean and maximum frame over the scan (or over the frames inside a scan ROI).

No parameters. Results ``sum``, ``mean`` and ``max``: ``sig_shape``, float64 (accumulated in
float64 over tiles converted to the compute dtype). Only frames inside the ROI contribute;
``mean = sum / count``; while no frame has arrived ``mean`` and ``max`` are NaN.
"""

from __future__ import annotations

import numpy as np

from apps.core.analyses.base import Analysis, PartitionTask
from apps.core.analyses.declaration import AnalysisDeclaration, Result
from apps.core.io.base import Partition
from apps.core.ops import StopCheck, sum_frames

SumState = tuple[np.ndarray, np.ndarray, int]
"""``(sum, max, count)``: flat ``(c,)`` float64 arrays and the number of frames summed."""


class SumTask(PartitionTask):
    """:func:`apps.core.ops.sum_frames` on one partition."""

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> SumState:
        return sum_frames(partition, roi=roi, should_stop=should_stop)


class SumAnalysis(Analysis):
    """Sum, mean and maximum of the frames (the ROI's frames when a scan ROI is given)."""

    declaration = AnalysisDeclaration(
        name="sum",
        title="Sum, mean, max frame",
        summary="Sum, mean and maximum over all frames (or the frames inside the scan ROI).",
        help="Sum, mean and maximum over all frames (or the scan ROI), shown on the detector view.",
        results=(
            Result("sum", "sig", "Sum of the frames.", unit="data", dtype="float64"),
            Result(
                "mean", "sig", "Mean frame (sum / number of frames).", unit="data", dtype="float64"
            ),
            Result(
                "max", "sig", "Pixel-wise maximum over the frames.", unit="data", dtype="float64"
            ),
        ),
        preview="mean",
    )

    def task(self) -> PartitionTask:
        return SumTask()

    def new_state(self) -> SumState:
        c = int(np.prod(self.sig_shape))
        return np.zeros(c, dtype=np.float64), np.full(c, -np.inf, dtype=np.float64), 0

    def merge(self, state: SumState, partition: Partition, result: SumState) -> SumState:
        total, peak, count = state
        part_total, part_peak, part_count = result
        total += part_total
        np.maximum(peak, part_peak, out=peak)
        return total, peak, count + part_count

    def results(self, state: SumState) -> dict[str, np.ndarray]:
        total, peak, count = state
        if count == 0:
            nan = np.full(self.sig_shape, np.nan)
            return {"sum": total.reshape(self.sig_shape).copy(), "mean": nan, "max": nan.copy()}
        return {
            "sum": total.reshape(self.sig_shape).copy(),
            "mean": (total / count).reshape(self.sig_shape),
            "max": peak.reshape(self.sig_shape).copy(),
        }
