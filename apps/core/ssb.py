"""Single-sideband (SSB) ptychography: the trotter masks and the Fourier reduction over the scan.

For every spatial frequency ``Q`` of the scan grid, the Fourier transform over the scan
positions of a detector pixel's intensity is non-zero (for a weak-phase object) where the
bright-field disk overlaps its copies shifted by ``±Q``: the double-overlap regions, the
"trotters". SSB sums, per ``Q``, that transform over one trotter minus the other (each divided
by its area) and over the bright-field disk for ``Q = 0``, and the inverse Fourier transform of
the result is the object's transmission function (Rodenburg et al., Ultramicroscopy 1993;
Pennycook et al., Ultramicroscopy 2015). With ``I(r, k)`` the intensity at scan position ``r``
and detector pixel ``k``::

    G(Q) = Σ_r exp(-2πi Q·r) Σ_k m_Q(k) I(r, k)

The sum over ``k`` is a sparse mask product (the trotters cover the bright-field disk only);
here the two sums are taken in the other order, per block of scan rows: the bright-field pixels
of the block's frames are Fourier transformed over the scan (an FFT along the rows, a small
complex product along the columns) and then weighted by each frequency's mask. It is the same
linear map, with far fewer operations than a mask product per frame (docs/analyses.md).

Only ``G`` for ``Qy = 0 … ny // 2`` is computed; ``m_{-Q} = -m_Q`` gives the rest as
``G(-Q) = -conj(G(Q))``. Masks, signs and the amplitude's square root follow ptychography40's
``SSB_UDF`` (0.1.0), which the tests compare against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.core import kernels
from apps.core.optics import electron_wavelength

#: Scan rows reduced together: fewer rows mean more mask contractions, more mean larger buffers.
BLOCK_BYTES = 32 * 2**20


@dataclass(frozen=True)
class SSBGeometry:
    """What the masks depend on: the scan ``(ny, nx)``, the detector ``(sy, sx)``, the beam
    (keV, convergence semi-angle in mrad), the detector pixel (mrad), the scan step (nm), the
    beam's centre on the detector ``(cy, cx)`` in pixels and the 2 x 2 matrix ``transform``
    from detector to scan directions (rotation and flip, as the centre of mass uses it)."""

    nav_shape: tuple[int, int]
    sig_shape: tuple[int, int]
    beam_energy: float
    convergence_angle: float
    detector_pixel: float
    scan_step: float
    cy: float
    cx: float
    transform: tuple[tuple[float, float], tuple[float, float]]

    @property
    def wavelength(self) -> float:
        """nm."""
        return electron_wavelength(self.beam_energy)

    @property
    def disk_radius(self) -> float:
        """The bright-field disk's radius in detector pixels."""
        return self.convergence_angle / self.detector_pixel

    @property
    def half_rows(self) -> int:
        """The rows ``Qy = 0 … ny // 2`` of the spectrum that are computed."""
        return self.nav_shape[0] // 2 + 1


def aperture(sig_shape: tuple[int, int], *, cy: float, cx: float, r: float) -> np.ndarray:
    """A disk of radius ``r`` with a one-pixel linear edge: ``clip(r + 1/2 - d, 0, 1)``,
    float64 ``(sy, sx)``."""
    y, x = np.ogrid[: sig_shape[0], : sig_shape[1]]
    distance = np.hypot(y - cy, x - cx)
    return np.clip(r + 0.5 - distance, 0.0, 1.0)


@dataclass(frozen=True)
class TrotterMasks:
    """The masks over the bright-field pixels: ``weights`` ``(nx, half_rows, K)`` (``qx``
    first: :class:`RowBlocks` multiplies per ``qx``) in the compute dtype for the flat detector
    pixels ``pixels`` ``(K,)`` (where the aperture is non-zero)."""

    pixels: np.ndarray
    weights: np.ndarray

    @property
    def count(self) -> int:
        """Frequencies with a non-empty mask."""
        return int(np.count_nonzero(np.abs(self.weights).sum(axis=-1)))


def trotter_masks(geometry: SSBGeometry, dtype: Any = np.float32) -> TrotterMasks:
    """The SSB masks of every frequency ``Qy = 0 … ny // 2``, ``Qx = 0 … nx - 1`` (FFT order).

    The shift of the disk for ``Q`` is ``Q (1/nm)`` taken to detector directions by the
    transpose of ``transform`` and divided by the spatial frequency of one detector pixel,
    ``sin(α) / λ / r``. Frequencies whose disks do not overlap (a shift above ``2 r``) and
    trotters of less than one pixel are empty; ``Q = 0`` is the disk divided by its area.
    """
    ny, nx = geometry.nav_shape
    r = geometry.disk_radius
    centre = aperture(geometry.sig_shape, cy=geometry.cy, cx=geometry.cx, r=r).ravel()
    pixels = np.flatnonzero(centre)
    inside = centre[pixels]
    py, px = np.divmod(pixels, geometry.sig_shape[1])
    per_pixel = math.sin(geometry.convergence_angle * 1e-3) / geometry.wavelength / r
    step = 1.0 / (geometry.scan_step * np.array([ny, nx], dtype=np.float64))
    transform = np.asarray(geometry.transform, dtype=np.float64)
    weights = np.zeros((nx, geometry.half_rows, pixels.size), dtype=dtype)
    qx = _signed_frequencies(nx)
    for row in range(geometry.half_rows):
        qy = row - ny if row > ny / 2 else row
        q = np.stack([np.full(nx, qy * step[0]), qx * step[1]], axis=1)
        shifts = q @ transform / per_pixel  # (nx, 2): the disk's shift in pixels, (y, x)
        weights[:, row] = _row_masks(shifts, inside, py, px, geometry, r)
    return TrotterMasks(pixels=pixels, weights=weights)


def _signed_frequencies(n: int) -> np.ndarray:
    index = np.arange(n, dtype=np.float64)
    return np.where(index > n / 2, index - n, index)


def _row_masks(
    shifts: np.ndarray,
    inside: np.ndarray,
    py: np.ndarray,
    px: np.ndarray,
    geometry: SSBGeometry,
    r: float,
) -> np.ndarray:
    """The masks ``(len(shifts), K)`` of one row of frequencies over the bright-field pixels."""
    masks = np.zeros((len(shifts), inside.size))
    near = np.flatnonzero(np.sum(shifts**2, axis=1) <= 4 * r * r)  # the disks overlap
    sy, sx = shifts[near, :1], shifts[near, 1:]
    plus = _edge(r, np.hypot(py - geometry.cy - sy, px - geometry.cx - sx))
    minus = _edge(r, np.hypot(py - geometry.cy + sy, px - geometry.cx + sx))
    positive = inside * plus * (minus == 0)
    negative = inside * minus * (plus == 0)
    area_p = positive.sum(axis=1, keepdims=True)
    area_n = negative.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        trotters = (positive / area_p - negative / area_n) / 2
    masks[near] = np.where((area_p >= 1) & (area_n >= 1), trotters, 0.0)
    at_zero = np.all(np.isclose(shifts, 0.0), axis=1)
    masks[at_zero] = inside / inside.sum()
    return masks


def _edge(r: float, distance: np.ndarray) -> np.ndarray:
    return np.clip(r + 0.5 - distance, 0.0, 1.0)


class RowBlocks:
    """Collects the bright-field pixels of the frames of a block of scan rows and reduces each
    full block into the half spectrum ``(half_rows, nx)`` complex128.

    ``add(first, tile)`` takes frames ``[first, first + k)`` (flat scan indices, in increasing
    order) as rows ``(k, sy * sx)``; frames never added count as zero (outside the scan ROI).
    A block starts at the row of the first frame it gets, so a partition of whole rows is one
    block. ``finish()`` reduces the last block and returns the spectrum.

    A block is reduced in two products: the FFT along the scan rows of each bright-field
    pixel's values (``(nx, K, rows)`` complex), then per ``qx`` the masks ``(half_rows, K)``
    times those spectra with their real and imaginary parts side by side (a real matrix
    product, ``(half_rows, 2 rows)``), and last the Fourier factors of the block's rows.
    """

    def __init__(self, geometry: SSBGeometry, masks: TrotterMasks) -> None:
        self.geometry = geometry
        self.masks = masks
        ny, nx = geometry.nav_shape
        k = masks.pixels.size
        self.dtype = masks.weights.dtype
        self.complex_dtype = np.result_type(self.dtype, np.complex64)
        self.rows = max(1, min(ny, BLOCK_BYTES // max(1, nx * k * self.dtype.itemsize)))
        self.buffer = np.zeros((nx, k, self.rows), dtype=self.dtype)
        self.origin = -1  # the first scan row of the block being filled (-1: none)
        self.spectrum = np.zeros((geometry.half_rows, nx), dtype=np.complex128)
        self._row_phase = -2j * np.pi * np.arange(geometry.half_rows)[:, np.newaxis] / ny

    def add(self, first: int, tile: np.ndarray) -> None:
        nx = self.geometry.nav_shape[1]
        frames = np.arange(first, first + tile.shape[0])
        rows = frames // nx
        start = 0
        while start < frames.size:
            if self.origin < 0:
                self.origin = int(rows[start])
            end = start + int(np.searchsorted(rows[start:], self.origin + self.rows))
            if end > start:
                bright = np.take(tile[start:end], self.masks.pixels, axis=1)
                self.buffer[frames[start:end] % nx, :, rows[start:end] - self.origin] = bright
                start = end
            if start < frames.size:  # the next frames lie beyond this block
                self._reduce()

    def finish(self) -> np.ndarray:
        self._reduce()
        return self.spectrum

    def _reduce(self) -> None:
        if self.origin < 0:
            return
        ny = self.geometry.nav_shape[0]
        count = min(self.rows, ny - self.origin)
        import scipy.fft  # slow to import: only when an SSB block is transformed

        along_x = scipy.fft.fft(self.buffer[:, :, :count], axis=0, workers=kernels.thread_count())
        pairs = np.ascontiguousarray(along_x).view(self.dtype)  # (nx, K, 2 count)
        weighted = np.matmul(self.masks.weights, pairs).view(self.complex_dtype)
        rows = np.arange(self.origin, self.origin + count)
        phase = np.exp(self._row_phase * rows).astype(self.complex_dtype)  # (half_rows, count)
        self.spectrum += np.einsum("xqy,qy->qx", weighted, phase)
        self.buffer[...] = 0
        self.origin = -1


def full_spectrum(half: np.ndarray, nav_shape: tuple[int, int]) -> np.ndarray:
    """The spectrum ``(ny, nx)`` from its rows ``Qy = 0 … ny // 2``: ``G(-Q) = -conj(G(Q))``."""
    ny, nx = nav_shape
    full = np.zeros((ny, nx), dtype=np.complex128)
    full[: half.shape[0]] = half
    lower = full[1 : ny // 2 + ny % 2]
    full[half.shape[0] :] = -np.conj(np.roll(lower[::-1, ::-1], 1, axis=1))
    return full


def reconstruct(half: np.ndarray | None, nav_shape: tuple[int, int]) -> dict[str, Any]:
    """``phase`` (rad), ``amplitude`` and ``complex`` ``(ny, nx)`` from the half spectrum.

    The object is the inverse FFT of the spectrum; since the spectrum is linear in the
    intensities, the amplitude is the square root of its modulus (as ptychography40 does).
    None (no frame yet) gives NaN images.
    """
    if half is None:
        nan = np.full(nav_shape, np.nan)
        return {"phase": nan, "amplitude": nan.copy(), "complex": nan.astype(np.complex128)}
    inverse = np.fft.ifft2(full_spectrum(half, nav_shape))
    amplitude = np.sqrt(np.abs(inverse))
    phase = np.angle(inverse)
    return {"phase": phase, "amplitude": amplitude, "complex": amplitude * np.exp(1j * phase)}
