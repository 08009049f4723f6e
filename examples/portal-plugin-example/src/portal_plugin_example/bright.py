"""``bright_pixels``: the number of pixels above a threshold in each frame.

A per-frame value, so a :class:`FrameRowsAnalysis`: the task maps every tile of frames to one
row per frame, the portal places the rows into the scan and ``post`` names the result.
"""

from __future__ import annotations

import numpy as np

from apps.core.analyses.base import FrameRowsAnalysis, FrameTask
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result


class BrightCountTask(FrameTask):
    """Counts the pixels of each frame above ``threshold``; picklable (one float)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def reduce(self, tile: np.ndarray) -> np.ndarray:
        # tile: (k, c) float64 frames; one row (k, 1) of counts
        return np.count_nonzero(tile > self.threshold, axis=1).reshape(-1, 1).astype(np.float64)


class BrightPixelsAnalysis(FrameRowsAnalysis):
    """How many pixels of each frame are above the threshold."""

    declaration = AnalysisDeclaration(
        name="bright_pixels",
        title="Bright pixels per frame",
        summary="The number of detector pixels above a threshold, per scan position.",
        help="Counts, in every frame, the pixels whose value is above the threshold.",
        params=(
            Param(
                "threshold",
                "number",
                "Pixels with a value strictly above this count.",
                suggested=10,
            ),
        ),
        results=(
            Result(
                "count",
                "nav",
                "Pixels above the threshold in the frame (NaN outside the scan ROI).",
                dtype="float64",
            ),
        ),
        preview="count",
    )
    row_dtype = np.dtype(np.float64)
    row_width = 1

    def task(self) -> BrightCountTask:
        return BrightCountTask(float(self.params["threshold"]))

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"count": rows[..., 0]}
