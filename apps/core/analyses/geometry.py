"""Validation of detector geometry shared by the mask analyses (centres, radii, coverage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from apps.core import masks
from apps.core.analyses import params as p
from apps.core.errors import ParameterError

#: How far centres and radii may reach, in detector sizes: far beyond any useful geometry, and
#: near enough that squared distances (``r**2`` in Python floats) cannot overflow.
REACH = 16


def reach(sig_shape: Sequence[int]) -> float:
    """The largest ``|cy|``, ``|cx|`` and radius accepted for a detector of ``sig_shape``."""
    return float(REACH * max(int(d) for d in sig_shape))


def bounded(
    params: Mapping[str, Any],
    name: str,
    *,
    sig_shape: Sequence[int],
    minimum: float | None = None,
    default: float | None = None,
) -> float:
    """``params[name]``, a finite number from ``minimum`` (default ``-reach``) to ``reach``."""
    value = p.number(params, name, default=default)
    limit = reach(sig_shape)
    low = -limit if minimum is None else minimum
    if not low <= value <= limit:
        raise ParameterError(
            name,
            f"must be from {low:g} to {limit:g} ({REACH} times the larger side of the "
            f"{sig_shape[0]} x {sig_shape[1]} detector), got {params[name]!r}.",
        )
    return value


def check_ring(ri: float, ro: float, *, inner: str, outer: str) -> None:
    """Refuse an outer radius ``ro`` that is not greater than the inner radius ``ri``."""
    if ro <= ri:
        raise ParameterError(
            outer, f"must be greater than {inner} ({ri:g}) so the ring has a width, got {ro:g}."
        )


def check_ring_covers(
    sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float
) -> None:
    """Refuse a ring ``ri < d <= ro`` (parameters ``ri``, ``ro``) that has no width or contains
    no detector pixel."""
    check_ring(ri, ro, inner="ri", outer="ro")
    region = masks.ring(sig_shape, cy=cy, cx=cx, ri=ri, ro=ro)
    check_covers(region, sig_shape=sig_shape, cy=cy, cx=cx, r=ro, field="ro", what="ring")


def checked_ring(params: Mapping[str, Any], sig_shape: Sequence[int]) -> dict[str, float]:
    """``cy, cx, ri, ro`` of ``params`` once :func:`check_ring_covers` accepts them."""
    ring = {name: params[name] for name in ("cy", "cx", "ri", "ro")}
    check_ring_covers(sig_shape, **ring)
    return ring


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
