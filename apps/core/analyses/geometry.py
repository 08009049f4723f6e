"""Validation of detector geometry shared by the mask analyses (centres, radii, coverage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from apps.core.analyses import params as p
from apps.core.errors import ParameterError


def centre(params: Mapping[str, Any]) -> tuple[float, float]:
    """``(cy, cx)``: finite numbers in detector pixels (they may lie outside the frame)."""
    return p.number(params, "cy"), p.number(params, "cx")


def radii(
    params: Mapping[str, Any], *, inner: str, outer: str, inner_required: bool = False
) -> tuple[float, float]:
    """An inner radius ``0 <= ri`` (default 0 unless required) and an outer radius ``ro > ri``."""
    ri = p.number(params, inner, default=None if inner_required else 0.0, minimum=0.0)
    ro = p.number(params, outer, positive=True)
    if ro <= ri:
        raise ParameterError(
            outer, f"must be greater than {inner} ({ri:g}) so the ring has a width, got {ro:g}."
        )
    return ri, ro


def check_covers(
    mask: np.ndarray,
    *,
    sig_shape: Sequence[int],
    cy: float,
    cx: float,
    r: float,
    field: str,
    what: str,
) -> None:
    """Refuse a round region (disk, ring, bins) that contains no detector pixel.

    Names ``cy`` or ``cx`` when the centre is too far outside the frame for radius ``r`` to
    reach it, else ``field`` (the radius).
    """
    if mask.any():
        return
    sy, sx = sig_shape
    if not -r <= cy <= sy - 1 + r:
        field = "cy"
    elif not -r <= cx <= sx - 1 + r:
        field = "cx"
    raise ParameterError(
        field,
        f"the {what} around (cy={cy:g}, cx={cx:g}) with radius {r:g} contains no pixel of the "
        f"{sy} x {sx} detector (pixel centres y 0-{sy - 1}, x 0-{sx - 1}); move the centre or "
        "enlarge the radius.",
    )


def sig_extent(sig_shape: Sequence[int]) -> str:
    """``"33 x 47 detector (y 0-32, x 0-46)"`` for messages."""
    sy, sx = sig_shape
    return f"{sy} x {sx} detector (y 0-{sy - 1}, x 0-{sx - 1})"
