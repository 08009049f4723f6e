"""Pick one detector frame at a scan position.

Parameters ``y, x``: integer scan position inside the scan (for a 1-d scan ``y`` is optional
and must be 0). Result ``frame``: ``sig_shape`` in the compute dtype (float32, or float64 for
float64 data); NaN when the position lies outside the scan ROI. Only the partition that holds
the frame runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apps.core.analyses import params as p
from apps.core.analyses.base import Analysis, PartitionTask
from apps.core.analyses.spec import ParamSpec, ResultSpec
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

    name = "pick"
    result_names = ("frame",)
    preview = "frame"
    param_specs = (
        ParamSpec("y", "integer", "Scan row (may be omitted for a 1-d scan)."),
        ParamSpec("x", "integer", "Scan column."),
    )
    result_specs = (ResultSpec("frame", "sig", "The detector frame at (y, x)."),)

    @property
    def _scan_shape(self) -> tuple[int, int]:
        if len(self.nav_shape) == 1:
            return 1, self.nav_shape[0]
        return self.nav_shape[0], self.nav_shape[1]

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        p.no_unknown(params, {"y", "x"})
        ny, nx = self._scan_shape
        y_default = 0 if len(self.nav_shape) == 1 else None
        y = p.integer(params, "y", default=y_default, minimum=0, maximum=ny - 1)
        x = p.integer(params, "x", minimum=0, maximum=nx - 1)
        return {"y": y, "x": x}

    @property
    def index(self) -> int:
        """The flat scan index ``y * nx + x`` of the picked frame."""
        return self.params["y"] * self._scan_shape[1] + self.params["x"]

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
