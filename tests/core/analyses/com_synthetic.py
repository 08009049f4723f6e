"""Synthetic 4D-STEM scans for ``com``: each frame is one small Gaussian spot whose position is a
known shift field (a known phase's gradient, turned, flipped and offset by a descan plane)."""

from __future__ import annotations

import numpy as np

SIG = (32, 32)
CENTRE = (16.0, 16.0)
#: Atom-like bumps of the phase: (row, col, width, height) on a 24 × 32 scan.
BUMPS = (
    (7.0, 8.0, 2.5, 1.0),
    (8.0, 23.0, 3.0, 0.8),
    (17.0, 12.0, 2.0, 1.2),
    (16.0, 25.0, 2.5, 0.9),
)


def phase_and_gradient(grid: tuple[int, int] = (24, 32)) -> tuple[np.ndarray, np.ndarray]:
    """A positive phase of Gaussian bumps and its exact gradient ``(ny, nx, 2)`` as (y, x)."""
    rows, cols = np.indices(grid, dtype=np.float64)
    phase = np.zeros(grid)
    gradient = np.zeros((*grid, 2))
    for row, col, width, height in BUMPS:
        bump = height * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * width**2))
        phase += bump
        gradient[..., 0] -= (rows - row) / width**2 * bump
        gradient[..., 1] -= (cols - col) / width**2 * bump
    return phase, gradient


def turn(field: np.ndarray, *, flip_y: bool, degrees: float) -> np.ndarray:
    """The detector-frame shifts that ``flip_y`` then ``degrees`` (docs/analyses.md) turn into
    the scan-frame ``field``: the inverse of ``x' = x cos θ - y sin θ, y' = x sin θ + y cos θ``
    after ``y -> -y``."""
    t = np.deg2rad(degrees)
    y, x = field[..., 0], field[..., 1]
    back_y, back_x = y * np.cos(t) - x * np.sin(t), x * np.cos(t) + y * np.sin(t)
    return np.stack([-back_y if flip_y else back_y, back_x], axis=-1)


def plane(coefficients: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``[1, row, col] @ coefficients`` over ``grid``: shape ``(ny, nx, 2)``."""
    rows, cols = np.indices(grid, dtype=np.float64)
    c = np.asarray(coefficients)
    return c[0] + rows[..., None] * c[1] + cols[..., None] * c[2]


def spot_frames(shifts: np.ndarray, *, width: float = 1.2) -> np.ndarray:
    """float32 frames ``(ny, nx, *SIG)``, each a Gaussian spot at ``CENTRE + shift``."""
    yy, xx = np.indices(SIG, dtype=np.float64)
    cy = CENTRE[0] + shifts[..., 0, None, None]
    cx = CENTRE[1] + shifts[..., 1, None, None]
    frames = 1000 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return frames.astype(np.float32)
