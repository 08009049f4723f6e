"""Standard deviation of each frame: one value per scan position.

No parameters. Result ``std``: ``nav_shape``, float64, the population standard deviation
(``np.std(frame)``, ddof 0) of the frame's pixels, computed in float64 whatever the data's
dtype; NaN outside the scan ROI. Not ``stddev``, which gives each *detector pixel*'s statistics
over the scan (sig-shaped).
"""

from __future__ import annotations

import numpy as np

from apps.core.analyses.base import FrameRowsAnalysis, FrameTask, PartitionTask
from apps.core.analyses.declaration import AnalysisDeclaration, Result


class FrameStdTask(FrameTask):
    """``np.std`` of every frame of a tile."""

    def reduce(self, tile: np.ndarray) -> np.ndarray:
        return tile.std(axis=1, keepdims=True)


class StdAnalysis(FrameRowsAnalysis):
    """The standard deviation of each frame's pixels."""

    declaration = AnalysisDeclaration(
        name="std",
        title="Standard deviation per frame",
        summary=(
            "The standard deviation of the pixels of each frame, per scan position (for each "
            "detector pixel over the scan see stddev)."
        ),
        results=(
            Result(
                "std",
                "nav",
                "Standard deviation of the frame's pixels.",
                unit="data",
                dtype="float64",
            ),
        ),
        preview="std",
    )
    row_dtype = np.dtype(np.float64)
    row_width = 1

    def task(self) -> PartitionTask:
        return FrameStdTask()

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"std": rows[..., 0]}
