"""``hot_pixels``: per detector pixel, the fraction of frames in which it is above a threshold.

One value for all frames, so a :class:`ReduceAnalysis`: each partition is folded tile by tile
into ``(counts, frames)``, partitions are added up (integers: exactly associative, any order
gives the same bits) and ``finish`` divides.
"""

from __future__ import annotations

import numpy as np

from apps.core.analyses.base import ReduceAnalysis, TileReduction
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.io.base import Partition

#: ``(counts, frames)``: per pixel how many frames were above the threshold, shape ``(c,)``
#: int64, and how many frames were seen.
Counts = tuple[np.ndarray, int]


class AboveThreshold(TileReduction):
    """Counts per pixel the frames above ``threshold``, comparing in the data's own dtype."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def start(self, partition: Partition) -> Counts:
        return np.zeros(partition.frame_size, dtype=np.int64), 0

    def add(self, value: Counts, first: int, tile: np.ndarray) -> Counts:
        counts, frames = value
        counts += np.count_nonzero(tile > self.threshold, axis=0)
        return counts, frames + tile.shape[0]


class HotPixelsAnalysis(ReduceAnalysis):
    """The fraction of frames in which each detector pixel is above the threshold."""

    declaration = AnalysisDeclaration(
        name="hot_pixels",
        title="Hot pixels",
        summary="Per detector pixel, the fraction of frames in which it is above a threshold.",
        help="A pixel near 1 is above the threshold in almost every frame: hot, or the beam.",
        params=(
            Param(
                "threshold",
                "number",
                "A pixel counts in a frame when its value is strictly above this.",
                suggested=1000,
            ),
            Param(
                "min_fraction",
                "number",
                "Pixels above the threshold in at least this fraction of frames are flagged.",
                default=0.9,
                minimum=0,
                maximum=1,
            ),
        ),
        results=(
            Result("fraction", "sig", "Fraction of frames above the threshold.", dtype="float64"),
            Result("hot", "sig", "1 where the fraction is at least min_fraction.", dtype="float64"),
        ),
        preview="fraction",
    )

    def task(self) -> AboveThreshold:
        return AboveThreshold(float(self.params["threshold"]))

    def combine(self, a: Counts, b: Counts) -> Counts:
        return a[0] + b[0], a[1] + b[1]

    def finish(self, value: Counts | None) -> dict[str, np.ndarray]:
        if value is None or value[1] == 0:
            nan = np.full(self.sig_shape, np.nan)
            return {"fraction": nan, "hot": nan.copy()}
        counts, frames = value
        fraction = (counts / frames).reshape(self.sig_shape)
        hot = (fraction >= self.params["min_fraction"]).astype(np.float64)
        return {"fraction": fraction, "hot": hot}
