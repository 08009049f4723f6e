"""Bragg disks: where the disks of a lattice lie in a frame, found by correlation with a disk
template and refined to sub-pixel positions.

Positions are ``(y, x)`` in detector pixels, pixel ``(y, x)`` centred at ``(y, x)`` (as in
:mod:`apps.core.masks`). A lattice is ``zero + i a + j b`` for integer ``(i, j)``: ``zero`` is
the zero-order disk, ``a`` and ``b`` two reciprocal lattice vectors (LiberTEM-blobfinder's
convention).

The correlation of a frame with an antialiased disk of the disks' radius peaks at each disk's
centre. That peak is a cone (the overlap area of two disks falls linearly with their distance),
which a parabola through three samples locates with a bias of up to 0.05 px; the template is
therefore smoothed by a Gaussian of :data:`TEMPLATE_BLUR` px, which rounds the tip so that the
parabola's bias stays near 0.01 px, and costs nothing in the Fourier domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

#: Standard deviation (px) of the Gaussian that smooths the disk template.
TEMPLATE_BLUR = 1.5
#: The most lattice points one frame may hold (the peaks of one tile are held at once).
MAX_PEAKS = 4096


def _fft() -> ModuleType:
    """scipy.fft, imported on first use: every process that sets Django up imports this module
    (the analyses' declarations), few of them look for Bragg disks."""
    import scipy.fft

    return scipy.fft


def disk_spectrum(sig_shape: Sequence[int], r: float) -> np.ndarray:
    """The conjugate spectrum of the disk template for :func:`correlate`.

    The template is a disk of radius ``r`` centred on pixel ``(0, 0)`` (wrapped around the
    frame's edges), antialiased (a pixel at distance ``d`` weighs ``clip(r + 0.5 - d, 0, 1)``)
    and smoothed by a Gaussian of :data:`TEMPLATE_BLUR` px. Returns ``(sy, sx // 2 + 1)``
    complex128.
    """
    sy, sx = (int(d) for d in sig_shape)
    dy = np.fft.fftfreq(sy, 1 / sy)[:, None]
    dx = np.fft.fftfreq(sx, 1 / sx)[None, :]
    disk = np.clip(r + 0.5 - np.hypot(dy, dx), 0.0, 1.0)
    ky = np.fft.fftfreq(sy)[:, None]
    kx = np.fft.rfftfreq(sx)[None, :]
    blur = np.exp(-2 * (np.pi * TEMPLATE_BLUR) ** 2 * (ky**2 + kx**2))
    return np.conj(_fft().rfft2(disk)) * blur


def correlate(frames: np.ndarray, spectrum: np.ndarray, *, log: bool) -> np.ndarray:
    """The correlation ``c[s] = sum_p f(s + p) t(p)`` of each frame with the template.

    ``frames``: ``(k, sy, sx)`` float32 or float64; ``spectrum`` from :func:`disk_spectrum`
    (complex64 with float32 frames keeps the whole transform in single precision). With
    ``log`` each frame ``f`` is first replaced by ``log(1 + f - min f)``, so that faint disks
    weigh about as much as the bright zero order. Returns ``(k, sy, sx)`` in the frames'
    precision, periodic (a disk at a frame edge correlates with the opposite edge: keep the
    peaks away from the edges).
    """
    if log:
        frames = np.log1p(frames - frames.min(axis=(1, 2), keepdims=True))
    spectra = _fft().rfft2(frames, axes=(1, 2))
    spectra *= spectrum
    return _fft().irfft2(spectra, s=frames.shape[1:], axes=(1, 2))


def lattice_points(
    sig_shape: Sequence[int],
    *,
    zero: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Every lattice point ``zero + i a + j b`` at least ``margin`` px inside the frame.

    Returns ``(indices, positions)``: ``(n, 2)`` int64 ``(i, j)`` and ``(n, 2)`` float64
    ``(y, x)``, in row order of ``(i, j)``. Raises ``ValueError`` if ``a`` and ``b`` are
    parallel or the frame would hold more than :data:`MAX_PEAKS` points.
    """
    basis = np.column_stack([a, b]).astype(np.float64)  # (y, x) rows, a and b columns
    if abs(np.linalg.det(basis)) < 1e-9:
        raise ValueError("the lattice vectors a and b are parallel")
    sy, sx = sig_shape
    corners = np.array([[0, 0], [0, sx - 1], [sy - 1, 0], [sy - 1, sx - 1]], dtype=np.float64)
    ij = np.linalg.solve(basis, (corners - zero).T)
    lo, hi = np.floor(ij.min(axis=1)), np.ceil(ij.max(axis=1))
    if np.prod(hi - lo + 1) > 64 * MAX_PEAKS:
        raise ValueError("the lattice vectors are so short that the frame holds too many disks")
    grid = np.mgrid[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1].reshape(2, -1).T.astype(np.int64)
    positions = zero + grid @ basis.T
    inside = within(positions, sig_shape, margin)
    if inside.sum() > MAX_PEAKS:
        raise ValueError(f"the frame holds more than {MAX_PEAKS} lattice points")
    return grid[inside], positions[inside]


def within(positions: np.ndarray, sig_shape: Sequence[int], margin: float) -> np.ndarray:
    """Which ``(..., 2)`` positions ``(y, x)`` lie at least ``margin`` px inside the frame."""
    sy, sx = sig_shape
    y, x = positions[..., 0], positions[..., 1]
    return (y >= margin) & (y <= sy - 1 - margin) & (x >= margin) & (x <= sx - 1 - margin)


def window_offsets(search: float) -> np.ndarray:
    """Integer ``(dy, dx)`` with ``dy^2 + dx^2 <= search^2``: ``(m, 2)`` int64, ``(0, 0)`` first."""
    reach = int(np.floor(search))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1].reshape(2, -1)
    d2 = dy**2 + dx**2
    keep = d2 <= search**2
    order = np.argsort(d2[keep], kind="stable")
    return np.column_stack([dy[keep], dx[keep]])[order]


def find_peaks(
    corr: np.ndarray, starts: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The correlation peak near each of ``starts`` in every frame, refined to sub-pixel.

    ``corr``: ``(k, sy, sx)`` from :func:`correlate` (the refinement is in float64 whatever its
    dtype); ``starts``: ``(n, 2)`` integer pixels, or ``(k, n, 2)`` for starts that differ
    from frame to frame, whose search windows (``starts + offsets``, see
    :func:`window_offsets`) and their neighbours lie inside the frame. In each window the
    largest value is taken (the first of equal ones, the window's centre first), then a
    parabola through it and its two neighbours along y, and along x, gives the sub-pixel
    position.

    Returns ``(positions, weights)``: ``(k, n, 2)`` float64 ``(y, x)`` and ``(k, n)`` float64
    sharpness (the mean of the two parabolas' curvatures, ``2 c0 - c-1 - c+1``). A maximum that
    is not a local maximum (on the window's edge, rising outside it) is no peak: position NaN,
    weight 0.
    """
    k, sy, sx = corr.shape
    flat = corr.reshape(k, sy * sx)
    starts = np.broadcast_to(starts, (k, *starts.shape[-2:]))
    n, m = starts.shape[1], len(offsets)
    rows = starts[..., None, 0] + offsets[:, 0]
    window = (rows * sx + starts[..., None, 1] + offsets[:, 1]).reshape(k, n * m)
    values = np.take_along_axis(flat, window, axis=1).reshape(k, n, m)
    choice = values.argmax(axis=2)
    # (k, n): the flat index of each window's maximum
    centre = np.take_along_axis(window.reshape(k, n, m), choice[..., None], axis=2)[..., 0]

    def at(shift: int) -> np.ndarray:
        return np.take_along_axis(flat, centre + shift, axis=1).astype(np.float64)

    c0, up, down, left, right = at(0), at(-sx), at(sx), at(-1), at(1)
    curv_y, curv_x = 2 * c0 - up - down, 2 * c0 - left - right
    highest_neighbour = np.maximum(np.maximum(up, down), np.maximum(left, right))
    is_peak = (curv_y > 0) & (curv_x > 0) & (c0 >= highest_neighbour)
    with np.errstate(divide="ignore", invalid="ignore"):
        dy = np.where(is_peak, (down - up) / (2 * curv_y), np.nan)
        dx = np.where(is_peak, (right - left) / (2 * curv_x), np.nan)
    positions = np.stack([centre // sx + dy, centre % sx + dx], axis=-1)
    weights = np.where(is_peak, (curv_y + curv_x) / 2, 0.0)
    return positions, weights


def pattern_shift(corr: np.ndarray, zero_start: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How far each frame's pattern has moved (descan): ``(k, 2)`` int64 whole pixels from
    ``zero_start`` (``(2,)`` int) to the correlation peak within ``offsets`` of it, 0 where
    there is none."""
    found, _ = find_peaks(corr, zero_start[None], offsets)
    return np.nan_to_num(np.rint(found[:, 0] - zero_start)).astype(np.int64)
