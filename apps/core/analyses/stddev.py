"""Mean, variance and standard deviation of each detector pixel over the scan (or the frames
inside a scan ROI), as LiberTEM's ``StdDevUDF`` computes them.

No parameters. With ``N`` frames ``x_1 .. x_N`` read, per detector pixel:
``mean = sum(x_i) / N``, ``var = sum((x_i - mean)^2) / N`` (population variance, ddof 0) and
``std = sqrt(var)``. Results ``mean``, ``var`` and ``std``: ``sig_shape``, float64, NaN while
no frame has arrived. Not the ``std`` analysis, which gives one value per *frame* (nav-shaped).

Each partition folds its tiles into per-pixel moments (count, mean, sum of squared deviations;
:mod:`apps.core.moments`), accumulated in float64 whatever the data's dtype; partitions merge
pairwise (Chan et al.) in any order, so a large mean does not cost the variance its digits.
"""

from __future__ import annotations

import numpy as np

from apps.core.analyses.base import ReduceAnalysis, TileReduction
from apps.core.analyses.declaration import AnalysisDeclaration, Result
from apps.core.io.base import Partition
from apps.core.moments import Moments, combine_moments, empty_moments, fold_tile, variance


class PixelMoments(TileReduction):
    """The moments of every detector pixel over a partition's frames."""

    def __init__(self, dtype: np.dtype) -> None:
        # Tiles are read in the data's own dtype, never converted as a whole.
        self.work_itemsize = np.dtype(dtype).itemsize

    def start(self, partition: Partition) -> Moments:
        return empty_moments(partition.frame_size)

    def add(self, value: Moments, first: int, tile: np.ndarray) -> Moments:
        return fold_tile(value, tile)


class StdDevAnalysis(ReduceAnalysis):
    """Per-pixel mean, variance and standard deviation over the scan."""

    declaration = AnalysisDeclaration(
        name="stddev",
        title="Standard deviation per detector pixel",
        summary=(
            "Mean, variance and standard deviation of each detector pixel over the scan "
            "(or the scan ROI); a detector image. For one value per frame see std."
        ),
        help="Statistics of every detector pixel over the frames (or the scan ROI), shown on "
        "the detector view.",
        results=(
            Result(
                "std",
                "sig",
                "Standard deviation of the pixel over the frames.",
                unit="data",
                dtype="float64",
            ),
            Result(
                "var",
                "sig",
                "Variance of the pixel over the frames (ddof 0).",
                unit="data²",
                dtype="float64",
            ),
            Result(
                "mean", "sig", "Mean of the pixel over the frames.", unit="data", dtype="float64"
            ),
        ),
        preview="std",
    )

    def task(self) -> PixelMoments:
        return PixelMoments(self.dtype)

    def combine(self, a: Moments, b: Moments) -> Moments:
        return combine_moments(a, b)

    def finish(self, value: Moments | None) -> dict[str, np.ndarray]:
        moments = value if value is not None else empty_moments(int(np.prod(self.sig_shape)))
        var = variance(moments).reshape(self.sig_shape)
        mean = moments.mean.reshape(self.sig_shape).copy()
        if moments.n == 0:
            mean[:] = np.nan
        return {"std": np.sqrt(var), "var": var, "mean": mean}
