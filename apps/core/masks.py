"""Detector masks and mask stacks.

Every factory returns a ``(sy, sx)`` (or ``(m, sy, sx)``) float array in detector pixel
coordinates: pixel ``(y, x)`` has its centre at ``(y, x)``; ``(cy, cx)`` is a centre that may
be fractional. A :class:`MaskStack` flattens ``m`` masks to the ``c x m`` matrix ``B`` of the
central product ``R = A . B``, restricted to the span of pixels the masks touch.

Membership tests compare squared distances, ``d^2 = (y-cy)^2 + (x-cx)^2``, in float64 so that
a disk, a ring and the radial bins agree exactly on their shared edges: ``ring(ri, ro)`` is
``disk(ro) - disk(ri)`` and the radial bins of ``(ri, ro)`` partition that ring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _distance_sq(sig_shape: Sequence[int], cy: float, cx: float) -> np.ndarray:
    """Squared distance of every pixel centre from ``(cy, cx)``, ``(sy, sx)`` float64."""
    y, x = np.ogrid[: sig_shape[0], : sig_shape[1]]
    return (y - float(cy)) ** 2 + (x - float(cx)) ** 2


def disk(sig_shape: Sequence[int], *, cy: float, cx: float, r: float) -> np.ndarray:
    """Pixels with ``(y-cy)^2 + (x-cx)^2 <= r^2`` (float32, 1 inside, 0 outside)."""
    if r < 0:
        raise ValueError(f"the radius must not be negative, got {r}")
    return (_distance_sq(sig_shape, cy, cx) <= float(r) ** 2).astype(np.float32)


def ring(sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float) -> np.ndarray:
    """Pixels with ``ri^2 < d^2 <= ro^2`` (float32); equals ``disk(ro) - disk(ri)``."""
    if not 0 <= ri <= ro:
        raise ValueError(f"a ring needs 0 <= ri <= ro, got ri={ri}, ro={ro}")
    d2 = _distance_sq(sig_shape, cy, cx)
    return ((d2 > float(ri) ** 2) & (d2 <= float(ro) ** 2)).astype(np.float32)


def rectangle(sig_shape: Sequence[int], *, y: int, x: int, height: int, width: int) -> np.ndarray:
    """Pixels with ``y <= py < y+height`` and ``x <= px < x+width`` (clipped to the frame)."""
    if height < 0 or width < 0:
        raise ValueError(f"height and width must not be negative, got {height}, {width}")
    out = np.zeros(tuple(sig_shape), dtype=np.float32)
    out[max(y, 0) : max(y + height, 0), max(x, 0) : max(x + width, 0)] = 1
    return out


def point(sig_shape: Sequence[int], *, y: int, x: int) -> np.ndarray:
    """The single pixel ``(y, x)``, which must lie inside the frame."""
    sy, sx = sig_shape
    if not (0 <= y < sy and 0 <= x < sx):
        raise ValueError(f"pixel ({y}, {x}) is outside the {sy} x {sx} frame")
    out = np.zeros((sy, sx), dtype=np.float32)
    out[y, x] = 1
    return out


def polygon(sig_shape: Sequence[int], *, points: Sequence[Sequence[float]]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon ``[[y, x], ...]`` (even-odd rule).

    Edges are half-open like :func:`rectangle`: a pixel centre on a top or left edge is inside,
    on a bottom or right edge outside, so the polygon ``[[y, x], [y, x+w], [y+h, x+w],
    [y+h, x]]`` selects exactly ``rectangle(y=y, x=x, height=h, width=w)`` and polygons that
    share an edge never share a pixel.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
        raise ValueError(f"a polygon needs at least 3 [y, x] points, got shape {pts.shape}")
    sy, sx = sig_shape
    yy = np.arange(sy, dtype=np.float64)[:, np.newaxis]
    xx = np.arange(sx, dtype=np.float64)[np.newaxis, :]
    inside = np.zeros((sy, sx), dtype=bool)
    for (y0, x0), (y1, x1) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        if y0 == y1:
            continue
        crosses = (yy >= min(y0, y1)) & (yy < max(y0, y1))
        x_at = x0 + (yy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xx < x_at)
    return inside.astype(np.float32)


def radial_bin_index(
    sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float, bins: int
) -> np.ndarray:
    """The bin of every pixel for :func:`radial_bins`: ``(sy, sx)`` integers, ``k`` where
    ``ri + k w < d <= ri + (k+1) w``, -1 outside the ring."""
    if bins < 1 or not 0 <= ri < ro:
        raise ValueError(f"radial bins need bins >= 1 and 0 <= ri < ro, got {bins}, {ri}, {ro}")
    d2 = _distance_sq(sig_shape, cy, cx)
    edges_sq = np.linspace(float(ri), float(ro), int(bins) + 1) ** 2
    # index of the first edge >= d^2, minus one: the bin with edges[k]^2 < d^2 <= edges[k+1]^2
    k = np.searchsorted(edges_sq, d2, side="left") - 1
    k[k >= bins] = -1
    return k


def radial_bins(
    sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float, bins: int
) -> np.ndarray:
    """``bins`` rings of equal width ``w = (ro-ri)/bins``: bin k is ``ri + k w < d <= ri + (k+1) w``.

    Returns ``(bins, sy, sx)`` float32. The bins partition ``ring(ri, ro)`` exactly.
    """
    k = radial_bin_index(sig_shape, cy=cy, cx=cx, ri=ri, ro=ro, bins=bins)
    out = np.zeros((int(bins), *k.shape), dtype=np.float32)
    yy, xx = np.nonzero(k >= 0)
    out[k[yy, xx], yy, xx] = 1
    return out


def smooth_radial_bins(
    sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float, bins: int
) -> np.ndarray:
    """``bins`` antialiased rings of equal width ``w = (ro-ri)/bins``, LiberTEM's radial bins.

    Bin k weighs a pixel at distance ``d`` by ``clip(w/2 + 1/2 - |d - r_k|, 0, 1)`` with
    ``r_k = ri + (k + 1/2) w``: 1 inside, falling linearly to 0 over the half pixel on each side
    of its edges, so neighbouring bins overlap by one pixel and add up to 1 there. When
    ``ri < 1/2`` the pixel nearest the centre gets weight ``1 - ri`` in bin 0 (LiberTEM's patch:
    the profile alone would weigh it less). Returns ``(bins, sy, sx)`` float64.
    """
    if bins < 1 or not 0 <= ri < ro:
        raise ValueError(f"radial bins need bins >= 1 and 0 <= ri < ro, got {bins}, {ri}, {ro}")
    d = np.sqrt(_distance_sq(sig_shape, cy, cx))
    width = (float(ro) - float(ri)) / int(bins)
    centres = float(ri) + (np.arange(int(bins)) + 0.5) * width
    out = np.clip(width / 2 + 0.5 - np.abs(d - centres[:, np.newaxis, np.newaxis]), 0, 1)
    yy, xx = round(float(cy)), round(float(cx))
    if ri < 0.5 and 0 <= yy < sig_shape[0] and 0 <= xx < sig_shape[1]:
        out[0, yy, xx] = 1 - float(ri)
    return out


def polar_angle(sig_shape: Sequence[int], *, cy: float, cx: float) -> np.ndarray:
    """``atan2(y - cy, x - cx)`` of every pixel centre, ``(sy, sx)`` float64 in ``(-pi, pi]``:
    0 along +x (columns), ``pi/2`` along +y (rows, downwards on the detector)."""
    y, x = np.ogrid[: sig_shape[0], : sig_shape[1]]
    return np.arctan2(y - float(cy), x - float(cx))


def com_weights(
    sig_shape: Sequence[int],
    *,
    cy: float,
    cx: float,
    r: float,
    ri: float = 0.0,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Three masks for centre of mass: the disk (or ring), ``y - cy`` and ``x - cx`` inside it.

    Returns ``(3, sy, sx)`` in ``dtype`` (float32 by default; pass float64 for float64 data so
    that fractional centres are not rounded). The relative coordinates keep the products small
    and well-conditioned in float32: a frame's shift is ``R[1] / R[0]`` (y) and ``R[2] / R[0]``
    (x), with rounding errors relative to ``r``, not to the detector size.
    """
    d2 = _distance_sq(sig_shape, cy, cx)
    inside = d2 <= float(r) ** 2
    if ri > 0:
        inside &= d2 > float(ri) ** 2
    y, x = np.ogrid[: sig_shape[0], : sig_shape[1]]
    weight = inside.astype(np.float64)
    return np.stack([weight, (y - float(cy)) * weight, (x - float(cx)) * weight]).astype(dtype)


def _bounding_box(touched: np.ndarray) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)`` of the True pixels of a 2-d array, ``(0, 0, 0, 0)`` if none."""
    rows = np.flatnonzero(touched.any(axis=1))
    cols = np.flatnonzero(touched.any(axis=0))
    if not rows.size:
        return (0, 0, 0, 0)
    return (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


class MaskStack:
    """``m`` masks of ``sig_shape`` as the ``c x m`` matrix ``B``, with the span they touch.

    Pixels outside ``span = (lo, hi)``, the flat range from the first to the last pixel any mask
    touches, contribute nothing to ``A . B``, so the product reads only ``tile[:, lo:hi]`` (a
    contiguous slice of every frame, no copy). Disks, rings and COM weights touch a band of the
    frame: this skips most of the data. A scipy.sparse product measured several times slower
    than BLAS on the span here, so the matrix stays dense (see docs/performance.md).

    Parameters
    ----------
    masks : array, shape (m, sy, sx) or (sy, sx)
        Any real dtype (bool, integer, float); stored as float64 if given as float64, else
        float32. Every value must be finite.
    """

    def __init__(self, masks: np.ndarray) -> None:
        arr = np.asarray(masks)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3 or arr.shape[0] == 0:
            raise ValueError(f"masks must have shape (m, sy, sx) or (sy, sx), got {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"masks must be real numbers, got dtype {arr.dtype}")
        self.dtype = np.dtype(np.float64 if arr.dtype == np.float64 else np.float32)
        self.count = arr.shape[0]
        self.sig_shape = arr.shape[1:]
        flat = arr.reshape(self.count, -1).astype(self.dtype, copy=False)
        if not np.isfinite(flat).all():
            raise ValueError("masks must not contain NaN or infinite values")
        any_mask: np.ndarray = np.asarray(flat.any(axis=0))
        touched = np.flatnonzero(any_mask)
        self.span = (int(touched[0]), int(touched[-1]) + 1) if touched.size else (0, 0)
        #: ``(r0, r1, c0, c1)``: the rows and columns any mask touches (empty: all zero).
        self.box = _bounding_box(any_mask.reshape(self.sig_shape))
        self._rows = np.ascontiguousarray(flat)
        self._derived: dict[Any, Any] = {}

    def derived(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()``, made once per ``key`` for this stack in this process and kept with it.

        For forms of the masks that every partition of a run needs and that cost a copy of the
        stack to make (a compiled product's padded weights). They are not pickled: a dask
        worker makes its own, once per stack it holds (a large task is sent to it once).
        """
        try:
            return self._derived[key]
        except KeyError:
            return self._derived.setdefault(key, make())

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_derived": {}}

    def matrix(self, dtype: np.dtype) -> np.ndarray:
        """The full ``(c, m)`` matrix in ``dtype``."""
        return np.ascontiguousarray(self._rows.T, dtype=dtype)

    def span_matrix(self, dtype: np.dtype) -> np.ndarray:
        """``B`` over the span, ``(hi - lo, m)``, C-contiguous, in ``dtype``."""
        lo, hi = self.span
        return np.ascontiguousarray(self._rows[:, lo:hi].T, dtype=dtype)

    def span_rows(self, dtype: np.dtype) -> np.ndarray:
        """The masks over the span as rows, ``(m, hi - lo)``, C-contiguous, in ``dtype``."""
        lo, hi = self.span
        return np.ascontiguousarray(self._rows[:, lo:hi], dtype=dtype)

    def box_rows(self, dtype: np.dtype) -> np.ndarray:
        """The masks over :attr:`box` as rows, ``(m, h * w)``, C-contiguous, in ``dtype``."""
        r0, r1, c0, c1 = self.box
        inside = self.masks()[:, r0:r1, c0:c1]
        return np.ascontiguousarray(inside.reshape(self.count, -1), dtype=dtype)

    def masks(self) -> np.ndarray:
        """The stack as ``(m, sy, sx)`` in :attr:`dtype` (a view)."""
        return self._rows.reshape((self.count, *self.sig_shape))

    def __repr__(self) -> str:
        lo, hi = self.span
        return f"<MaskStack {self.count} x {self.sig_shape} pixels {lo}-{hi} {self.dtype}>"
