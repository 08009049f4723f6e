"""Synthetic diffraction scans: lattices of Bragg disks with a known geometry and strain field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Lattice:
    """An unstrained lattice on a detector: zero order, a and b as (y, x) in pixels."""

    sig: tuple[int, int]
    zero: np.ndarray
    a: np.ndarray
    b: np.ndarray
    r: float

    def params(self) -> dict[str, float]:
        """The lattice as ``strain`` parameters."""
        (cy, cx), (ay, ax), (by, bx) = self.zero, self.a, self.b
        return {"cy": cy, "cx": cx, "ay": ay, "ax": ax, "by": by, "bx": bx, "r": self.r}


#: 25 disks inside the frame with the default search.
LARGE = Lattice(
    (128, 128), np.array([63.4, 64.7]), np.array([1.5, 21.0]), np.array([20.0, -2.0]), 4.0
)
#: A few disks on a frame small enough for the direct-correlation reference.
SMALL = Lattice((40, 44), np.array([19.6, 21.3]), np.array([0.7, 10.2]), np.array([9.8, -1.1]), 2.5)


def disks(
    sig_shape: Sequence[int], centres: np.ndarray, r: float, *, supersample: int = 8
) -> np.ndarray:
    """Disks of radius ``r`` at ``centres`` ``(n, 2)``: each pixel's covered fraction, found by
    sampling ``supersample``² points per pixel (float64 ``sig_shape``)."""
    out = np.zeros(sig_shape)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    for cy, cx in centres:
        y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, sig_shape[0])
        x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, sig_shape[1])
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1)[:, None, None, None] + sub[None, None, :, None]
        xx = np.arange(x0, x1)[None, :, None, None] + sub[None, None, None, :]
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        out[y0:y1, x0:x1] += inside.mean(axis=(2, 3))
    return out


def lattice_frame(
    lat: Lattice, zero: np.ndarray, a: np.ndarray, b: np.ndarray, *, reach: int = 6
) -> np.ndarray:
    """A frame of ``lat.sig`` with a disk at every ``zero + i a + j b``, ``|i|, |j| <= reach``."""
    ij = np.mgrid[-reach : reach + 1, -reach : reach + 1].reshape(2, -1).T
    return disks(lat.sig, zero + ij @ np.array([a, b]), lat.r)


def strained_lattice(lat: Lattice, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` (y, x) of ``lat`` in a crystal deformed by ``F`` (``(2, 2)`` in (x, y)
    components): reciprocal vectors change as ``g' = F^-T g``."""
    g = np.array([[lat.a[1], lat.b[1]], [lat.a[0], lat.b[0]]])  # columns a, b as (x, y)
    strained = np.linalg.inv(f).T @ g
    return strained[::-1, 0], strained[::-1, 1]


def known_field(ny: int, nx: int) -> dict[str, np.ndarray]:
    """Strain and rotation (``omega``, radians) over a scan, all zero in the first column."""
    y, x = np.mgrid[0:ny, 0:nx]
    u, v = x / (nx - 1), y / (ny - 1)
    return {
        "exx": 0.01 * u,
        "eyy": -0.008 * u * v,
        "exy": 0.005 * u * (1 - v),
        "omega": np.radians(0.3) * u * v,
    }


def deformation_at(field: dict[str, np.ndarray], iy: int, ix: int) -> np.ndarray:
    """``F = I + E + W`` (x, y components): its symmetric part minus I is E exactly."""
    exx, eyy, exy, w = (field[k][iy, ix] for k in ("exx", "eyy", "exy", "omega"))
    return np.array([[1 + exx, exy - w], [exy + w, 1 + eyy]])


def write_strained_scan(
    path: Path,
    lat: Lattice,
    nav: tuple[int, int],
    *,
    dose: float = 1000,
    seed: int = 7,
    descan: float = 1.0,
) -> dict[str, np.ndarray]:
    """A uint16 ``.npy`` scan of ``lat`` strained by :func:`known_field`, ``dose`` counts per
    pixel in the disks, 5 in the background, Poisson noise, and the zero order wandering by
    up to ``descan`` px over the scan. Returns the field and the true lattices ``truth``
    (``nav + (6,)``)."""
    rng = np.random.default_rng(seed)
    field = known_field(*nav)
    frames = np.empty((*nav, *lat.sig), dtype=np.uint16)
    truth = np.empty((*nav, 6))
    for iy, ix in np.ndindex(*nav):
        a, b = strained_lattice(lat, deformation_at(field, iy, ix))
        zero = lat.zero + descan * np.array([0.8 * iy / (nav[0] - 1), -0.6 * ix / (nav[1] - 1)])
        frames[iy, ix] = rng.poisson(5 + dose * lattice_frame(lat, zero, a, b))
        truth[iy, ix] = np.concatenate([zero, a, b])
    np.save(path, frames)
    return {**field, "truth": truth}
