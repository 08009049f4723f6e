"""Detector masks and mask stacks.

Every factory returns a ``(sy, sx)`` (or ``(m, sy, sx)``) float array in detector pixel
coordinates: pixel ``(y, x)`` has its centre at ``(y, x)``; ``(cy, cx)`` is a centre that may
be fractional. A :class:`MaskStack` flattens ``m`` masks to the ``c x m`` matrix ``B`` of the
central product ``R = A . B`` and keeps it dense or sparse by its density.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse

SPARSE_DENSITY = 0.25


def _distance_sq(sig_shape: Sequence[int], cy: float, cx: float) -> np.ndarray:
    y, x = np.ogrid[: sig_shape[0], : sig_shape[1]]
    return (y - cy) ** 2 + (x - cx) ** 2


def disk(sig_shape: Sequence[int], *, cy: float, cx: float, r: float) -> np.ndarray:
    """Pixels with ``(y-cy)^2 + (x-cx)^2 <= r^2`` (float32, 1 inside, 0 outside)."""
    return (_distance_sq(sig_shape, cy, cx) <= r * r).astype(np.float32)


def ring(sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float) -> np.ndarray:
    """Pixels with ``ri^2 < d^2 <= ro^2``."""
    d2 = _distance_sq(sig_shape, cy, cx)
    return ((d2 > ri * ri) & (d2 <= ro * ro)).astype(np.float32)


def rectangle(sig_shape: Sequence[int], *, y: int, x: int, height: int, width: int) -> np.ndarray:
    """Pixels with ``y <= py < y+height`` and ``x <= px < x+width`` (clipped to the frame)."""
    out = np.zeros(tuple(sig_shape), dtype=np.float32)
    out[max(y, 0) : max(y + height, 0), max(x, 0) : max(x + width, 0)] = 1
    return out


def point(sig_shape: Sequence[int], *, y: int, x: int) -> np.ndarray:
    """The single pixel ``(y, x)``."""
    out = np.zeros(tuple(sig_shape), dtype=np.float32)
    out[y, x] = 1
    return out


def polygon(sig_shape: Sequence[int], *, points: Sequence[Sequence[float]]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon ``[[y, x], ...]`` (even-odd rule)."""
    sy, sx = sig_shape
    yy, xx = np.mgrid[:sy, :sx]
    inside = np.zeros((sy, sx), dtype=bool)
    pts = np.asarray(points, dtype=np.float64)
    for (y0, x0), (y1, x1) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        if y0 == y1:
            continue
        crosses = (yy >= min(y0, y1)) & (yy < max(y0, y1))
        x_at = x0 + (yy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xx < x_at)
    return inside.astype(np.float32)


def radial_bins(
    sig_shape: Sequence[int], *, cy: float, cx: float, ri: float, ro: float, bins: int
) -> np.ndarray:
    """``bins`` rings of equal width: bin k is ``ri + k w < d <= ri + (k+1) w``."""
    d = np.sqrt(_distance_sq(sig_shape, cy, cx))
    edges = np.linspace(ri, ro, bins + 1)
    return np.stack([(d > edges[k]) & (d <= edges[k + 1]) for k in range(bins)]).astype(np.float32)


def com_weights(
    sig_shape: Sequence[int], *, cy: float, cx: float, r: float, ri: float = 0.0
) -> np.ndarray:
    """Three masks for centre of mass: the disk (or ring), ``y - cy`` and ``x - cx`` inside it.

    The relative coordinates keep the products small and well-conditioned in float32.
    """
    d2 = _distance_sq(sig_shape, cy, cx)
    inside = d2 <= r * r
    if ri > 0:
        inside &= d2 > ri * ri
    y, x = np.mgrid[: sig_shape[0], : sig_shape[1]]
    weight = inside.astype(np.float64)
    return np.stack([weight, (y - cy) * weight, (x - cx) * weight]).astype(np.float32)


class MaskStack:
    """``m`` masks of ``sig_shape`` as a ``c x m`` matrix (dense ndarray or CSC sparse).

    Parameters
    ----------
    masks : array, shape (m, sy, sx) or (sy, sx)
        Any real dtype; stored as float64 if given as float64, else float32.
    sparse : bool or None
        Force a representation; by default sparse when at most 25 % of entries are non-zero.
    """

    def __init__(self, masks: np.ndarray, *, sparse: bool | None = None) -> None:
        arr = np.asarray(masks)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3:
            raise ValueError(f"masks must have shape (m, sy, sx) or (sy, sx), got {arr.shape}")
        self.dtype = np.dtype(np.float64 if arr.dtype == np.float64 else np.float32)
        self.count = arr.shape[0]
        self.sig_shape = arr.shape[1:]
        flat = arr.reshape(self.count, -1).astype(self.dtype, copy=False)
        density = np.count_nonzero(flat) / max(1, flat.size)
        self.is_sparse = density <= SPARSE_DENSITY if sparse is None else sparse
        self._dense = np.ascontiguousarray(flat.T)
        self._sparse_t = scipy.sparse.csr_matrix(flat) if self.is_sparse else None

    def matrix(self, dtype: np.dtype) -> np.ndarray:
        """The dense ``(c, m)`` matrix in ``dtype``."""
        return self._dense.astype(dtype, copy=False)

    def sparse_transposed(self, dtype: np.dtype) -> scipy.sparse.csr_matrix:
        """The ``(m, c)`` CSR matrix (only for sparse stacks)."""
        assert self._sparse_t is not None
        return self._sparse_t.astype(dtype, copy=False)

    def __repr__(self) -> str:
        kind = "sparse" if self.is_sparse else "dense"
        return f"<MaskStack {self.count} x {self.sig_shape} {kind} {self.dtype}>"
