"""Independent float64 references for the corrections and phases of ``com`` (descan, iCoM,
riCOM), written from the formulas in docs/analyses.md without ``apps.core``."""

from __future__ import annotations

import numpy as np


def descan_plane(y: np.ndarray, x: np.ndarray, fit: str) -> np.ndarray:
    """The 3×2 coefficients (rows 1, row, col; columns y, x) over the finite positions."""
    grid_y, grid_x = np.atleast_2d(y), np.atleast_2d(x)
    rows, cols = np.indices(grid_y.shape, dtype=np.float64)
    ok = np.isfinite(grid_y) & np.isfinite(grid_x)
    target = np.column_stack([grid_y[ok], grid_x[ok]])
    if fit == "none" or not ok.any():
        return np.zeros((3, 2))
    if fit == "constant":
        return np.vstack([target.mean(axis=0), np.zeros((2, 2))])
    design = np.column_stack([np.ones(ok.sum()), rows[ok], cols[ok]])
    return np.linalg.pinv(design) @ target


def icom_reference(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mirror both components across the edges (odd where the derivative crosses the mirror),
    solve ``∇φ = (y, x)`` on the periodic 2ny × 2nx grid by full complex FFTs, keep the
    scan's quarter, NaN where undefined, mean 0 over the rest."""
    gy, gx = np.atleast_2d(y), np.atleast_2d(x)
    ok = np.isfinite(gy) & np.isfinite(gx)
    gy, gx = np.where(ok, gy, 0.0), np.where(ok, gx, 0.0)
    ny, nx = gy.shape
    ey = np.concatenate(
        [
            np.concatenate([gy, np.flip(gy, 1)], 1),
            -np.concatenate([np.flip(gy, 0), np.flip(gy, (0, 1))], 1),
        ],
        0,
    )
    ex = np.concatenate(
        [
            np.concatenate([gx, -np.flip(gx, 1)], 1),
            np.concatenate([np.flip(gx, 0), -np.flip(gx, (0, 1))], 1),
        ],
        0,
    )
    ky, kx = np.meshgrid(np.fft.fftfreq(2 * ny), np.fft.fftfreq(2 * nx), indexing="ij")
    ky, kx = 2 * np.pi * ky, 2 * np.pi * kx
    denominator = ky**2 + kx**2
    denominator[0, 0] = 1.0
    spectrum = (ky * np.fft.fft2(ey) + kx * np.fft.fft2(ex)) / (1j * denominator)
    spectrum[0, 0] = 0.0  # the undetermined constant
    spectrum[ny, :] = spectrum[:, nx] = 0.0  # Nyquist: no sign for the derivative
    phase = np.fft.ifft2(spectrum)
    return _mean_removed(phase.real[:ny, :nx], ok).reshape(np.shape(y))


def ricom_reference(y: np.ndarray, x: np.ndarray, radius: int) -> np.ndarray:
    """``φ(r) = Σ_d d · g(r - d) / (2π |d|²)`` summed offset by offset (no FFT)."""
    gy, gx = np.atleast_2d(y), np.atleast_2d(x)
    ok = np.isfinite(gy) & np.isfinite(gx)
    gy, gx = np.where(ok, gy, 0.0), np.where(ok, gx, 0.0)
    ny, nx = gy.shape
    phase = np.zeros((ny, nx))
    reach = min(radius, max(ny, nx))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if (dy, dx) == (0, 0) or abs(dy) >= ny or abs(dx) >= nx:
                continue
            weight = 1 / (2 * np.pi * (dy * dy + dx * dx))
            # phase[r] += K(d) . g[r - d] where r - d lies on the scan
            target = phase[max(dy, 0) : ny + min(dy, 0), max(dx, 0) : nx + min(dx, 0)]
            src = (slice(max(-dy, 0), ny - max(dy, 0)), slice(max(-dx, 0), nx - max(dx, 0)))
            target += weight * (dy * gy[src] + dx * gx[src])
    return _mean_removed(phase, ok).reshape(np.shape(y))


def _mean_removed(phase: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(phase.shape, np.nan)
    if ok.any():
        out[ok] = phase[ok] - phase[ok].mean()
    return out
