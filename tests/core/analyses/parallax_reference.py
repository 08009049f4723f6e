"""The ``parallax`` analysis with given (defocus-derived) shifts, written out pixel by pixel
from docs/analyses.md: an independent reference for its results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def parallax_reference(
    data: np.ndarray, roi_: np.ndarray | None, **params: Any
) -> dict[str, np.ndarray]:
    """float64 results of ``parallax`` with ``shifts="defocus"`` on ``data`` (scan + detector)."""
    nav, (sy, sx) = data.shape[:-2], data.shape[-2:]
    ny, nx = (1, nav[0]) if len(nav) == 1 else nav
    frames = data.reshape(ny, nx, sy, sx).astype(np.float64)
    read = np.ones((ny, nx), dtype=bool) if roi_ is None else roi_.reshape(ny, nx)
    cy, cx, r = params["cy"], params["cx"], params["r"]
    theta = math.radians(params.get("scan_rotation", 0.0))
    # scan pixels per detector pixel: Δf θ_px / step
    per_px = params["defocus"] * params["detector_pixel"] * 1e-3 / params["scan_step"]
    pixels, shifts = [], []
    for row in range(sy):
        for col in range(sx):
            if (row - cy) ** 2 + (col - cx) ** 2 <= r**2:
                y, x = row - cy, col - cx
                if params.get("flip_y", False):
                    y = -y
                # com's rotation: x' = x cos θ - y sin θ, y' = x sin θ + y cos θ; d = D (y', x')
                dy = per_px * (x * math.sin(theta) + y * math.cos(theta))
                dx = per_px * (x * math.cos(theta) - y * math.sin(theta))
                pixels.append((row, col))
                shifts.append((dy, dx))
    image = np.zeros((ny, nx))
    bright = np.full((ny, nx), np.nan)
    shift_maps = np.full((2, sy, sx), np.nan)
    for (row, col), (dy, dx) in zip(pixels, shifts, strict=True):
        shift_maps[:, row, col] = dy, dx
    for y in range(ny):
        for x in range(nx):
            if read[y, x]:
                bright[y, x] = np.mean([frames[y, x, row, col] for row, col in pixels])
    for (row, col), (dy, dx) in zip(pixels, shifts, strict=True):
        for y in range(ny):
            for x in range(nx):
                fy, fx = (y + round(dy)) % ny, (x + round(dx)) % nx
                if read[fy, fx]:
                    image[y, x] += frames[fy, fx, row, col] - bright[fy, fx]
    image /= len(pixels)
    return {
        "image": image.reshape(nav),
        "phase_flipped": phase_flipped(image, params).reshape(nav),
        "bright_field": bright.reshape(nav),
        "shift_y": shift_maps[0],
        "shift_x": shift_maps[1],
        "defocus": np.array([per_px]),
        "rotation": np.array([params.get("scan_rotation", 0.0)]),
        "astigmatism": np.zeros(2),
    }


def phase_flipped(image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The image's Fourier coefficient at ``(qy, qx)`` (1/nm) times the sign of
    ``sin(-π λ Δf (qy² + qx²))``, 0 at the Nyquist frequency of an even axis."""
    energy = params["beam_energy"] * 1e3 * 1.602176634e-19  # J
    mass, c, h = 9.1093837015e-31, 299792458.0, 6.62607015e-34
    wavelength = h / math.sqrt(2 * mass * energy * (1 + energy / (2 * mass * c**2))) * 1e9
    ny, nx = image.shape
    spectrum = np.fft.fft2(image)
    for i in range(ny):
        for j in range(nx):
            qy = (i if i < (ny + 1) // 2 else i - ny) / (ny * params["scan_step"])
            qx = (j if j < (nx + 1) // 2 else j - nx) / (nx * params["scan_step"])
            chi = -math.pi * wavelength * params["defocus"] * (qy**2 + qx**2)
            nyquist = (ny % 2 == 0 and i == ny // 2) or (nx % 2 == 0 and j == nx // 2)
            spectrum[i, j] *= 0.0 if nyquist else np.sign(math.sin(chi))
    return np.fft.ifft2(spectrum).real
