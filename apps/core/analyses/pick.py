"""Pick one detector frame at a scan position.

Parameters ``y, x``: integer scan position on the last two scan axes (for a 1-d scan ``y`` is
optional and must be 0); ``slice``: for a scan of more than two axes, which 2-d slice (the flat
C-order index over the leading axes; default 0). Result ``frame``: ``sig_shape`` in the compute dtype (float32, or float64 for
float64 data); NaN when the position lies outside the scan ROI. Only the partition that holds
the frame runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apps.core.analyses.base import Analysis, PartitionTask
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.io.base import Partition
from apps.core.ops import StopCheck, compute_dtype, read_frame


class PickTask(PartitionTask):
    """Read frame ``index`` (flat scan index) and convert it to ``dtype``."""

    def __init__(self, index: int, dtype: np.dtype) -> None:
        self.index = index
        self.dtype = dtype

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> np.ndarray:
        return read_frame(partition, self.index).astype(self.dtype)


class PickAnalysis(Analysis):
    """The frame at scan position ``(y, x)``."""

    declaration = AnalysisDeclaration(
        name="pick",
        title="Pick one frame (job)",
        summary="The detector frame at one scan position.",
        help="Click a scan position on the right; the frame is read by a job and shown on the left.",
        params=(
            Param(
                "y",
                "integer",
                "Scan row (may be omitted for a 1-d scan).",
                unit="scan px",
                bound="scan_rows",
                minimum=0,
            ),
            Param("x", "integer", "Scan column.", unit="scan px", bound="scan_columns", minimum=0),
            Param(
                "slice",
                "integer",
                "The 2-d slice of a scan of more than two axes (the flat index over the "
                "leading scan axes); 0 for a 1-d or 2-d scan.",
                default=0,
                bound="scan_slices",
                minimum=0,
            ),
        ),
        results=(Result("frame", "sig", "The detector frame at (y, x).", unit="data"),),
        preview="frame",
        widget="scan-point",
    )

    def defaults(self) -> dict[str, Any]:
        return {"y": 0} if len(self.nav_shape) == 1 else {}

    @property
    def index(self) -> int:
        """The flat scan index ``(slice * ny + y) * nx + x`` of the picked frame."""
        ny, nx = self.extent.scan_grid
        return (self.params["slice"] * ny + self.params["y"]) * nx + self.params["x"]

    @property
    def result_dtype(self) -> np.dtype:
        return compute_dtype(self.dtype)

    def wants(self, partition: Partition, roi: np.ndarray | None) -> bool:
        if not partition.start <= self.index < partition.stop:
            return False
        return roi is None or bool(roi[self.index - partition.start])

    def task(self) -> PartitionTask:
        return PickTask(self.index, self.result_dtype)

    def new_state(self) -> np.ndarray | None:
        return None

    def merge(
        self, state: np.ndarray | None, partition: Partition, result: np.ndarray
    ) -> np.ndarray:
        return result

    def results(self, state: np.ndarray | None) -> dict[str, np.ndarray]:
        if state is None:
            return {"frame": np.full(self.sig_shape, np.nan, dtype=self.result_dtype)}
        return {"frame": state.reshape(self.sig_shape)}
