"""The phase whose gradient is a centre-of-mass shift field: iCoM (a Fourier Poisson solve) and
riCOM (a real-space integration kernel, Yu et al., Microscopy and Microanalysis 28, 2022).

Convention: the field ``(y, x)`` over the scan grid is ``+∇φ`` (``y = ∂φ/∂row``,
``x = ∂φ/∂col``, in units of one scan position): the beam is deflected towards the nuclei, so
the phase is highest at the atom columns. Positions where the field is undefined (NaN: outside
the scan ROI, not yet computed, no weight) count as zero field and get a NaN phase; the phase's
mean over the defined positions is 0.
"""

from __future__ import annotations

import functools

import numpy as np


def icom(field: np.ndarray) -> np.ndarray:
    """iCoM of a ``(ny, nx, 2)`` field: the least-squares phase ``φ`` with ``∇φ ≈ field``.

    Boundary: the field is mirrored across the scan's edges (``φ`` extended evenly, so ``y``
    changes sign in the rows' mirror and ``x`` in the columns'), which makes the extended field
    periodic without jumps; then on the ``2ny × 2nx`` grid ``φ̂ = -i (k_y ŷ + k_x x̂) / |k|²``
    with ``k = 2π · fftfreq``, the undetermined DC term and the sign-less Nyquist terms set to
    0; the scan's quarter is kept.
    """
    y, x, defined = _zero_filled(field)
    ny, nx = y.shape
    y_ext = np.block([[y, y[:, ::-1]], [-y[::-1], -y[::-1, ::-1]]])
    x_ext = np.block([[x, -x[:, ::-1]], [x[::-1], -x[::-1, ::-1]]])
    from_y, from_x = _poisson_factors(ny, nx)
    spectrum = from_y * np.fft.rfft2(y_ext) + from_x * np.fft.rfft2(x_ext)
    phase = np.fft.irfft2(spectrum, s=(2 * ny, 2 * nx))[:ny, :nx]
    return _zero_mean(phase, defined)


@functools.lru_cache(maxsize=8)
def _poisson_factors(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """``-i k_y / |k|²`` and ``-i k_x / |k|²`` on the mirrored grid's half spectrum, 0 at the
    DC term (undetermined) and the Nyquist terms (a derivative there has no sign: the real
    field cannot say ±k)."""
    ky = 2 * np.pi * np.fft.fftfreq(2 * ny)[:, np.newaxis]
    kx = 2 * np.pi * np.fft.rfftfreq(2 * nx)[np.newaxis, :]
    k2 = ky**2 + kx**2
    k2[0, 0] = 1.0
    factors = []
    for k in (ky, kx):
        f = np.broadcast_to(-1j * k / k2, k2.shape).copy()
        f[0, 0] = 0.0
        f[ny, :] = 0.0
        f[:, nx] = 0.0
        f.flags.writeable = False
        factors.append(f)
    return factors[0], factors[1]


def ricom(field: np.ndarray, radius: int) -> np.ndarray:
    """riCOM of a ``(ny, nx, 2)`` field with a ``(2 radius + 1)²`` kernel.

    ``φ(r) = Σ_d K(d) · field(r - d)`` over the offsets ``d = (dy, dx)`` with
    ``|dy|, |dx| ≤ radius``, ``K(d) = d / (2π |d|²)`` and ``K(0) = 0``: the gradient of the
    2-d Green's function ``ln|d| / 2π`` of the Laplacian, truncated; beyond the scan the field
    is zero. A kernel as large as the scan integrates over all of it; a small one keeps only
    the phase's detail finer than the kernel (a high-pass).
    """
    y, x, defined = _zero_filled(field)
    ny, nx = y.shape
    radius = max(0, min(int(radius), max(ny, nx)))
    shape = (ny + 2 * radius, nx + 2 * radius)
    kernel_y, kernel_x = _ricom_kernels(radius, shape)
    spectrum = np.fft.rfft2(y, shape) * kernel_y + np.fft.rfft2(x, shape) * kernel_x
    full = np.fft.irfft2(spectrum, shape)
    phase = full[radius : radius + ny, radius : radius + nx]
    return _zero_mean(phase, defined)


@functools.lru_cache(maxsize=8)
def _ricom_kernels(radius: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The spectra (``shape``, zero-padded) of ``K_y`` and ``K_x`` over ``|dy|, |dx| <= radius``."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    d2 = dy**2 + dx**2
    d2[radius, radius] = np.inf  # K(0) = 0
    spectra = (
        np.fft.rfft2(dy / (2 * np.pi * d2), shape),
        np.fft.rfft2(dx / (2 * np.pi * d2), shape),
    )
    for s in spectra:
        s.flags.writeable = False
    return spectra


def _zero_filled(field: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    defined = np.isfinite(field).all(axis=-1)
    filled = np.where(defined[..., np.newaxis], field, 0.0)
    return filled[..., 0], filled[..., 1], defined


def _zero_mean(phase: np.ndarray, defined: np.ndarray) -> np.ndarray:
    out = np.full(phase.shape, np.nan)
    if defined.any():
        out[defined] = phase[defined] - phase[defined].mean()
    return out
