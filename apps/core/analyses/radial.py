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
from apps.core.analyses import params as p
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.spec import ParamSpec, ResultSpec
from apps.core.masks import MaskStack

MAX_BINS = 1024


class RadialAnalysis(MaskAnalysis):
    """Integrated intensity in equal-width rings around ``(cy, cx)``."""

    name = "radial"
    result_names = ("profile",)
    preview = "profile"
    param_specs = (
        ParamSpec("cx", "number", "Centre column in detector pixels."),
        ParamSpec("cy", "number", "Centre row in detector pixels."),
        ParamSpec(
            "ri", "number", "Inner radius in pixels (>= 0, excluded).", required=False, default=0.0
        ),
        ParamSpec("ro", "number", "Outer radius in pixels (> ri, included)."),
        ParamSpec("bins", "integer", f"Number of rings of equal width (1 to {MAX_BINS})."),
    )
    result_specs = (
        ResultSpec("profile", "nav+bins", "Intensity per ring (last axis) per scan position."),
    )

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        p.no_unknown(params, {"cx", "cy", "ri", "ro", "bins"})
        cy, cx = geometry.centre(params, self.sig_shape)
        ri, ro = geometry.radii(params, sig_shape=self.sig_shape, inner="ri", outer="ro")
        bins = p.integer(params, "bins", minimum=1, maximum=MAX_BINS)
        region = masks.ring(self.sig_shape, cy=cy, cx=cx, ri=ri, ro=ro)
        geometry.check_covers(
            region, sig_shape=self.sig_shape, cy=cy, cx=cx, r=ro, field="ro", what="ring"
        )
        return {"cy": cy, "cx": cx, "ri": ri, "ro": ro, "bins": bins}

    def mask_stack(self) -> MaskStack:
        return MaskStack(masks.radial_bins(self.sig_shape, **self.params))

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"profile": rows}
