"""User-supplied masks: the product of every frame with each of ``m`` masks.

Parameter ``masks``: a numpy array ``(m, sy, sx)`` or ``(sy, sx)`` of real, finite numbers
(bool, integer or float) matching the detector. The caller resolves an uploaded mask id (API)
or a ``.npy`` path (``manage.py analyze``) to the array before building the analysis.

Result ``masks``: ``nav_shape + (m,)``; float64 when the masks or the data are float64, else
float32; NaN outside the scan ROI.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.errors import ParameterError
from apps.core.masks import MaskStack

MAX_MASKS = 256


class MasksAnalysis(MaskAnalysis):
    """Apply a stack of user masks."""

    declaration = AnalysisDeclaration(
        name="masks",
        title="Own masks (.npy upload)",
        summary="The product of every frame with each of m masks of your own.",
        help="Upload a .npy of shape (sy, sx) or (m, sy, sx) matching the detector.",
        params=(
            Param(
                "masks",
                "masks",
                "A mask stack (m, sy, sx) or one mask (sy, sx) matching the detector; "
                f"m <= {MAX_MASKS}.",
            ),
        ),
        results=(
            Result(
                "masks",
                "nav+m",
                "Product with each mask (last axis) per scan position.",
                unit="data",
                display="channels",
            ),
        ),
        preview="masks",
        widget="mask-upload",
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"masks": check_mask_stack(params["masks"], self.sig_shape)}

    def mask_stack(self) -> MaskStack:
        return MaskStack(self.params["masks"])

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"masks": rows}


def check_mask_stack(value: Any, sig_shape: tuple[int, ...]) -> np.ndarray:
    """A real, finite ``(m, sy, sx)`` array (a single ``(sy, sx)`` mask gets ``m = 1``)."""
    sy, sx = sig_shape
    expected = f"expected (m, {sy}, {sx}) or ({sy}, {sx}) for this {sy} x {sx} detector"
    if value is None:
        raise ParameterError("masks", f"is required: a mask array, {expected}.")
    if not isinstance(value, np.ndarray):
        raise ParameterError(
            "masks", f"must be a numpy array, got {type(value).__name__}; {expected}."
        )
    if value.dtype.kind not in "biuf":
        raise ParameterError(
            "masks", f"must hold real numbers (bool, integer or float), got dtype {value.dtype}."
        )
    stack = value[np.newaxis] if value.ndim == 2 else value
    if stack.ndim != 3 or stack.shape[1:] != (sy, sx) or stack.shape[0] == 0:
        raise ParameterError("masks", f"has shape {value.shape}; {expected}.")
    if stack.shape[0] > MAX_MASKS:
        raise ParameterError(
            "masks", f"has {stack.shape[0]} masks; at most {MAX_MASKS} are supported."
        )
    if stack.dtype.kind == "f" and not np.isfinite(stack).all():
        raise ParameterError("masks", "must not contain NaN or infinite values.")
    return stack
