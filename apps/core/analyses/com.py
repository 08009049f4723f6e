"""Centre of mass (COM / first moment) of each frame inside a disk, and its field properties.

Parameters: ``cx, cy, r`` (the disk, ``r > 0``), optional ``ri`` (``0 <= ri < r``: use the
ring ``ri < d <= r`` instead), ``scan_rotation`` in degrees (default 0), ``flip_y`` (default
false).

Per frame the intensity-weighted mean pixel position inside the disk, minus ``(cy, cx)``,
gives the shift ``(y, x)``; frames with zero total weight give NaN. Then ``y -> -y`` when
``flip_y``, then the rotation by ``θ = scan_rotation``::

    x' = x cos θ - y sin θ        y' = x sin θ + y cos θ

Results (``nav_shape``, compute dtype, NaN outside the scan ROI): ``x``, ``y``,
``magnitude = hypot(x, y)``, and over the scan grid (rows = scan y, columns = scan x)
``divergence = ∂x/∂col + ∂y/∂row`` and ``curl = ∂y/∂col - ∂x/∂row`` by :func:`numpy.gradient`
(central differences inside, one-sided at the edges). Along a scan axis of length 1 (a single
row or column, or a 1-d scan, which is treated as one row) the derivative is taken as 0.
Divergence and curl are NaN where the shift is NaN and at its neighbours.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from apps.core import masks
from apps.core.analyses import geometry
from apps.core.analyses import params as p
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.spec import ParamSpec, ResultSpec
from apps.core.masks import MaskStack
from apps.core.ops import compute_dtype


class COMAnalysis(MaskAnalysis):
    """Centre-of-mass shifts, their magnitude, divergence and curl."""

    name = "com"
    result_names = ("x", "y", "magnitude", "divergence", "curl")
    preview = "magnitude"
    param_specs = (
        ParamSpec("cx", "number", "Centre column of the disk in detector pixels."),
        ParamSpec("cy", "number", "Centre row of the disk in detector pixels."),
        ParamSpec("r", "number", "Disk radius in pixels (> 0)."),
        ParamSpec(
            "ri", "number", "Inner radius (>= 0, < r): use a ring.", required=False, default=0.0
        ),
        ParamSpec(
            "scan_rotation",
            "number",
            "Rotation from detector to scan axes in degrees.",
            required=False,
            default=0.0,
        ),
        ParamSpec(
            "flip_y", "boolean", "Flip the detector y axis first.", required=False, default=False
        ),
    )
    result_specs = (
        ResultSpec("x", "nav", "Shift along scan x in detector pixels."),
        ResultSpec("y", "nav", "Shift along scan y in detector pixels."),
        ResultSpec("magnitude", "nav", "Length of the shift, hypot(x, y)."),
        ResultSpec("divergence", "nav", "dx/dcol + dy/drow over the scan grid."),
        ResultSpec("curl", "nav", "dy/dcol - dx/drow over the scan grid."),
    )

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        p.no_unknown(params, {"cx", "cy", "r", "ri", "scan_rotation", "flip_y"})
        cy, cx = geometry.centre(params, self.sig_shape)
        ri, r = geometry.radii(params, sig_shape=self.sig_shape, inner="ri", outer="r")
        weights = masks.com_weights(self.sig_shape, cy=cy, cx=cx, r=r, ri=ri)
        geometry.check_covers(
            weights[0], sig_shape=self.sig_shape, cy=cy, cx=cx, r=r, field="r", what="disk"
        )
        return {
            "cy": cy,
            "cx": cx,
            "r": r,
            "ri": ri,
            "scan_rotation": p.number(params, "scan_rotation", default=0.0),
            "flip_y": p.boolean(params, "flip_y", default=False),
        }

    def mask_stack(self) -> MaskStack:
        dtype = compute_dtype(self.dtype)
        q = self.params
        weights = masks.com_weights(
            self.sig_shape, cy=q["cy"], cx=q["cx"], r=q["r"], ri=q["ri"], dtype=dtype
        )
        return MaskStack(weights)

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        # float64 post-processing: the division and the differences add no float32 rounding
        moments = rows.astype(np.float64)
        y, x = com_shifts(moments)
        y, x = orient(y, x, flip_y=self.params["flip_y"], degrees=self.params["scan_rotation"])
        divergence, curl = divergence_curl(y, x)
        out = {
            "x": x,
            "y": y,
            "magnitude": np.hypot(x, y),
            "divergence": divergence,
            "curl": curl,
        }
        return {k: v.astype(rows.dtype) for k, v in out.items()}


def com_shifts(moments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x)`` shifts from ``moments[..., 0:3] = [Σw, Σ(y-cy)w, Σ(x-cx)w]``; NaN where Σw = 0."""
    weight = moments[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(weight != 0, moments[..., 1] / weight, np.nan)
        x = np.where(weight != 0, moments[..., 2] / weight, np.nan)
    return y, x


def orient(
    y: np.ndarray, x: np.ndarray, *, flip_y: bool, degrees: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flip (``y -> -y``) then rotate by ``degrees``; returns ``(y', x')``."""
    if flip_y:
        y = -y
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    return x * sin + y * cos, x * cos - y * sin


def divergence_curl(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(∂x/∂col + ∂y/∂row, ∂y/∂col - ∂x/∂row)`` over a 2-d (or 1-d = one row) scan grid.

    NaN where ``x`` or ``y`` is NaN, and next to it (the differences propagate NaN).
    """
    grid_y, grid_x = np.atleast_2d(y), np.atleast_2d(x)
    dy_drow, dy_dcol = _gradient(grid_y)
    dx_drow, dx_dcol = _gradient(grid_x)
    divergence = (dx_dcol + dy_drow).reshape(y.shape)
    curl = (dy_dcol - dx_drow).reshape(y.shape)
    # central differences skip the position itself: keep NaN where the shift is undefined
    # (outside the scan ROI, no weight, not yet computed)
    undefined = np.isnan(y) | np.isnan(x)
    divergence[undefined] = np.nan
    curl[undefined] = np.nan
    return divergence, curl


def _gradient(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(∂/∂row, ∂/∂col)`` of a 2-d field; 0 along an axis of length 1."""
    out = []
    for axis in (0, 1):
        if field.shape[axis] < 2:
            out.append(np.zeros_like(field))
        else:
            out.append(np.gradient(field, axis=axis))
    return out[0], out[1]
