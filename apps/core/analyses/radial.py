"""Radial profile: the intensity in ``bins`` concentric rings of equal width per scan position.

Parameters: ``cx, cy`` (centre), ``ri`` (inner radius, default 0), ``ro > ri`` (outer radius),
``bins`` (1 to 1024). With ``w = (ro - ri) / bins`` bin ``k`` holds the pixels with
``ri + k w < d <= ri + (k+1) w``; the bins partition the ring ``ri < d <= ro`` (so with
``ri = 0`` a pixel exactly at the centre belongs to no bin). Bins that contain no pixel give 0.

Result ``profile``: ``nav_shape + (bins,)``, compute dtype, NaN outside the scan ROI. It is also
the preview; a viewer reduces it over the bins (for example sums) to show a scan image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apps.core import masks
from apps.core.analyses import geometry
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.geometry_params import CX, CY, RI, RO
from apps.core.masks import MaskStack

MAX_BINS = 1024


class RadialAnalysis(MaskAnalysis):
    """Integrated intensity in equal-width rings around ``(cy, cx)``."""

    declaration = AnalysisDeclaration(
        name="radial",
        title="Radial profile",
        summary="The intensity in concentric rings of equal width per scan position.",
        params=(
            CX,
            CY,
            RI,
            RO,
            Param(
                "bins",
                "integer",
                "Number of rings of equal width.",
                minimum=1,
                maximum=MAX_BINS,
                suggested=16,
            ),
        ),
        results=(
            Result(
                "profile",
                "nav+bins",
                "Intensity per ring (last axis) per scan position.",
                unit="data",
                display="channels",
            ),
        ),
        preview="profile",
        widget="radial",
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**geometry.checked_ring(params, self.sig_shape), "bins": params["bins"]}

    def mask_stack(self) -> MaskStack:
        return MaskStack(masks.radial_bins(self.sig_shape, **self.params))

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"profile": rows}
