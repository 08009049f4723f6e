"""Scan regions of interest: the JSON of the API turned into a boolean nav-shaped array.

Three forms (DESIGN section 7), in scan coordinates (``y`` rows, ``x`` columns):

* ``{"shape": "rect", "y", "x", "height", "width"}``: whole numbers, inside the scan;
* ``{"shape": "disk", "cy", "cx", "r"}``: positions with ``(y-cy)² + (x-cx)² <= r²``, the
  centre inside the scan;
* ``{"mask": [[true, false, ...], ...]}``: one boolean per scan position.

A one-dimensional scan of ``n`` positions is treated as one row ``(1, n)`` for rect and disk.
A scan of more than two axes is a stack of 2-d slices over its last two axes: rect and disk
select the same positions in every slice, or in one slice only with the extra key ``"slice"``
(the flat C-order index over the leading axes); a mask has the full scan shape.
Every failure is a ParameterError on the field ``roi`` whose sentence names the key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from apps.core.analyses import params as p
from apps.core.errors import ParameterError

SHAPE_KEYS = {"rect": ("y", "x", "height", "width"), "disk": ("cy", "cx", "r")}
#: Keys a rect or disk ROI may also have on a scan of more than two axes.
SLICE_KEYS = ("slice",)


def roi_array(roi: Any, nav_shape: Sequence[int]) -> np.ndarray | None:
    """``roi`` (the API's JSON, or None) as a boolean array of ``nav_shape``."""
    if roi is None:
        return None
    nav = tuple(int(d) for d in nav_shape)
    if not isinstance(roi, dict):
        raise ParameterError("roi", f"must be an object with a shape or a mask, got {roi!r:.80}.")
    arr = _mask(roi, nav) if "mask" in roi else _geometry(roi, nav)
    if not arr.any():
        raise ParameterError("roi", "selects no scan position.")
    return arr


def _mask(roi: dict[str, Any], nav: tuple[int, ...]) -> np.ndarray:
    if set(roi) != {"mask"}:
        raise ParameterError("roi", 'a mask ROI takes only the key "mask".')
    try:
        arr = np.array(roi["mask"], dtype=object)
    except ValueError:  # ragged nested lists
        arr = None
    if arr is None or arr.shape != nav:
        raise ParameterError(
            "roi", f"mask must be nested lists of true/false of the scan shape {list(nav)}."
        )
    if not all(isinstance(v, bool) for v in arr.flat):
        raise ParameterError("roi", "mask must contain only true and false.")
    return arr.astype(bool)


def _geometry(roi: dict[str, Any], nav: tuple[int, ...]) -> np.ndarray:
    shape = roi.get("shape")
    if not isinstance(shape, str) or shape not in SHAPE_KEYS:
        raise ParameterError(
            "roi", f'shape must be "rect" or "disk" (or give "mask"), got {shape!r:.40}.'
        )
    allowed = {"shape", *SHAPE_KEYS[shape], *(SLICE_KEYS if len(nav) > 2 else ())}
    unknown = sorted(set(roi) - allowed)
    if unknown:
        raise ParameterError(
            "roi", f"{unknown[0]!r} is not a key of a {shape} ROI; expected {sorted(allowed)}."
        )
    ny, nx = nav[-2:] if len(nav) >= 2 else (1, nav[0])
    slices = math.prod(nav[:-2])
    try:
        arr = _rect(roi, ny, nx) if shape == "rect" else _disk(roi, ny, nx)
        chosen = p.integer(roi, "slice", minimum=0, maximum=slices - 1) if "slice" in roi else None
    except ParameterError as exc:
        raise ParameterError("roi", f"{exc.field} {exc.message}") from None
    stack = np.zeros((slices, ny, nx), dtype=bool)
    if chosen is None:
        stack[:] = arr
    else:
        stack[chosen] = arr
    return stack.reshape(nav)


def _rect(roi: dict[str, Any], ny: int, nx: int) -> np.ndarray:
    y = p.integer(roi, "y", minimum=0, maximum=ny - 1)
    x = p.integer(roi, "x", minimum=0, maximum=nx - 1)
    height = p.integer(roi, "height", minimum=1, maximum=ny - y)
    width = p.integer(roi, "width", minimum=1, maximum=nx - x)
    arr = np.zeros((ny, nx), dtype=bool)
    arr[y : y + height, x : x + width] = True
    return arr


def _disk(roi: dict[str, Any], ny: int, nx: int) -> np.ndarray:
    cy = p.number(roi, "cy", minimum=0, maximum=ny - 1)
    cx = p.number(roi, "cx", minimum=0, maximum=nx - 1)
    r = p.number(roi, "r", positive=True, maximum=math.hypot(ny, nx))
    yy, xx = np.ogrid[:ny, :nx]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
