"""The catalogue's overview of a dataset: its mean frame and a virtual annular dark-field image.

Two passes over the frames (one job, :attr:`Analysis.passes`): the first sums the frames
(:class:`~apps.core.analyses.sum.SumAnalysis`), the second integrates a ring around the bright
disk found in the mean frame (:class:`~apps.core.analyses.virtual.VirtualAnalysis`). Not an
analysis of the menu (it is not in ``ANALYSES``): the ``thumbnail`` job kind runs it.

The ring (:func:`default_ring`): the bright disk is the set of pixels above half the way from
the darkest to the brightest pixel of the mean frame; its centre the intensity-weighted centroid
of those pixels and its radius ``r = sqrt(area / pi)``. The ring runs from ``1.5 r`` to the
nearest edge of the frame (the largest circle that fits); without a clear disk (none, or one
covering half the frame or more) it is centred on the frame from a quarter to the whole of
the distance to the nearest edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from apps.core.analyses.base import Analysis
from apps.core.analyses.sum import SumAnalysis
from apps.core.analyses.virtual import VirtualAnalysis
from apps.core.masks import ring

#: The ring's inner radius in bright-disk radii.
INNER_FACTOR = 1.5


def default_ring(mean: np.ndarray) -> dict[str, float]:
    """``{cy, cx, ri, ro}`` in detector pixels for the ADF image of a dataset whose mean frame
    is ``mean`` (2-d, any real dtype; NaN counts as dark)."""
    sy, sx = mean.shape
    image = np.nan_to_num(np.asarray(mean, dtype=np.float64), nan=-np.inf)
    finite = image[np.isfinite(image)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    bright = image > low + 0.5 * (high - low)
    area = int(np.count_nonzero(bright))
    if high <= low or area == 0 or area >= 0.5 * sy * sx:
        cy, cx = (sy - 1) / 2, (sx - 1) / 2
        edge = _edge_distance(cy, cx, sy, sx)
        return _covering({"cy": cy, "cx": cx, "ri": edge / 4, "ro": edge}, (sy, sx))
    weights = np.where(bright, image - low, 0.0)
    ys, xs = np.indices((sy, sx))
    cy = float((weights * ys).sum() / weights.sum())
    cx = float((weights * xs).sum() / weights.sum())
    ri = INNER_FACTOR * math.sqrt(area / math.pi)
    ro = max(_edge_distance(cy, cx, sy, sx), ri + 1.0)
    return _covering({"cy": cy, "cx": cx, "ri": ri, "ro": ro}, (sy, sx))


def _edge_distance(cy: float, cx: float, sy: int, sx: int) -> float:
    return max(0.5, min(cy + 0.5, cx + 0.5, sy - 0.5 - cy, sx - 0.5 - cx))


def _covering(geometry: dict[str, float], sig_shape: tuple[int, int]) -> dict[str, float]:
    """``geometry`` widened until the ring holds a pixel (tiny frames): out to the farthest
    corner, then from the centre."""
    cy, cx = geometry["cy"], geometry["cx"]
    if not ring(sig_shape, **geometry).any():
        sy, sx = sig_shape
        corner = max(math.hypot(y - cy, x - cx) for y in (0, sy - 1) for x in (0, sx - 1))
        geometry = {**geometry, "ro": max(geometry["ro"], corner + 1.0)}
    if not ring(sig_shape, **geometry).any():
        geometry = {**geometry, "ri": 0.0}
    return {k: round(float(v), 3) for k, v in geometry.items()}


class OverviewMean(SumAnalysis):
    """The first pass: the mean frame (the sum analysis); the second is :class:`OverviewRing`."""

    passes = 2

    def next_pass(self, results: dict[str, np.ndarray]) -> Analysis:
        mean = results["mean"]
        return OverviewRing(
            default_ring(mean),
            mean=mean,
            nav_shape=self.nav_shape,
            sig_shape=self.sig_shape,
            dtype=self.dtype,
        )


class OverviewRing(VirtualAnalysis):
    """The second pass: the ring's virtual detector, with the first pass's mean frame.

    Results: ``mean`` (``sig_shape``, float64), ``adf`` (``nav_shape``, the compute dtype) and
    ``ring`` (``[cy, cx, ri, ro]``, float64).
    """

    def __init__(
        self,
        geometry: dict[str, float],
        *,
        mean: np.ndarray,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        dtype: Any,
    ) -> None:
        self.mean = mean
        self.geometry = geometry
        super().__init__(
            {"shape": "ring", **geometry}, nav_shape=nav_shape, sig_shape=sig_shape, dtype=dtype
        )

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        ring_ = [self.geometry[k] for k in ("cy", "cx", "ri", "ro")]
        return {"mean": self.mean, "adf": rows[..., 0], "ring": np.array(ring_)}


def overview_analysis(
    *, nav_shape: Sequence[int], sig_shape: Sequence[int], dtype: Any
) -> Analysis:
    """The two-pass overview of a dataset of this shape and dtype."""
    # Only the mean is used: the sum without the maximum reads the same and computes less.
    return OverviewMean({"max": False}, nav_shape=nav_shape, sig_shape=sig_shape, dtype=dtype)
