"""A deterministic synthetic 4D-STEM dataset for demos and first steps.

A 64 x 64 scan of 128 x 128 uint16 frames: a bright central disk (the unscattered beam) whose
centre shifts smoothly with scan position, so centre of mass is not trivial; Poisson noise;
and a few scan regions with extra diffraction spots, so a dark-field image shows contrast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from apps.core.io.raw import write_sidecar

NAV_SHAPE = (64, 64)
SIG_SHAPE = (128, 128)
DTYPE = np.dtype("<u2")
DISK_RADIUS = 14.0
SPOTS = ((34.0, 96.0), (94.0, 32.0), (30.0, 36.0), (98.0, 92.0))
#: The calibration demo.h5 carries (NeXus NXdata axes): a 2 nm scan step, 0.25 mrad pixels.
SCAN_STEP_NM = 2.0
PIXEL_MRAD = 0.25


def _beam_centre(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disk centre (cy, cx) for scan positions: a smooth, asymmetric deflection field."""
    cy = 64.0 + 3.0 * np.sin(2 * np.pi * x / 64.0) + 1.5 * (y / 63.0)
    cx = 64.0 + 2.5 * np.cos(2 * np.pi * y / 48.0) - 1.0 * (x / 63.0)
    return cy, cx


def _grains(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Strength of the extra diffraction spots: a few regions of the scan (grains)."""
    g = np.zeros(np.broadcast(y, x).shape)
    for gy, gx, r in ((16, 18, 9), (44, 46, 12), (50, 12, 6)):
        g += ((y - gy) ** 2 + (x - gx) ** 2 <= r * r).astype(float)
    return g


def demo_rows(seed: int = 42) -> Iterator[np.ndarray]:
    """Yield the dataset one scan row at a time, ``(nx, sy, sx)`` uint16."""
    rng = np.random.default_rng(seed)
    ny, nx = NAV_SHAPE
    py, px = np.mgrid[: SIG_SHAPE[0], : SIG_SHAPE[1]].astype(np.float32)
    for y in range(ny):
        xs = np.arange(nx, dtype=np.float32)
        cy, cx = _beam_centre(np.float32(y), xs)
        d = np.sqrt((py - cy[:, None, None]) ** 2 + (px - cx[:, None, None]) ** 2)
        lam = 2.0 + 120.0 / (1.0 + np.exp(np.minimum((d - DISK_RADIUS) / 0.8, 60.0)))
        strength = _grains(np.float32(y), xs)
        for sy, sx in SPOTS:
            spot = np.exp(-((py - sy) ** 2 + (px - sx) ** 2) / (2 * 2.5**2))
            lam += 60.0 * strength[:, None, None] * spot
        yield rng.poisson(lam).astype(DTYPE)


def _nexus_axes(group: h5py.Group) -> None:
    """Make ``group`` an NXdata whose axes calibrate the demo (scan in nm, detector in mrad)."""
    group.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["y", "x", "ky", "kx"]})
    for name, n, step, units in (
        ("y", NAV_SHAPE[0], SCAN_STEP_NM, "nm"),
        ("x", NAV_SHAPE[1], SCAN_STEP_NM, "nm"),
        ("ky", SIG_SHAPE[0], PIXEL_MRAD, "mrad"),
        ("kx", SIG_SHAPE[1], PIXEL_MRAD, "mrad"),
    ):
        group[name] = np.arange(n) * step
        group[name].attrs["units"] = units


def write_demo(folder: Path) -> tuple[Path, Path]:
    """Write ``demo.raw`` + ``demo.json`` and ``demo.h5`` into ``folder``; return both paths.

    Files are written under temporary names and renamed, the sidecar last.
    """
    folder.mkdir(parents=True, exist_ok=True)
    raw, sidecar, h5 = folder / "demo.raw", folder / "demo.json", folder / "demo.h5"
    tmp_raw, tmp_h5 = folder / ".demo.raw.tmp", folder / ".demo.h5.tmp"
    with open(tmp_raw, "wb") as f_raw, h5py.File(tmp_h5, "w") as f_h5:
        dset = f_h5.create_dataset(
            "/entry/data/data",
            shape=NAV_SHAPE + SIG_SHAPE,
            dtype=DTYPE,
            chunks=(1, 8, *SIG_SHAPE),
        )
        f_h5["/entry"].attrs["description"] = "LiberTEM Portal synthetic demo dataset"
        _nexus_axes(f_h5["/entry/data"])
        for y, row in enumerate(demo_rows()):
            f_raw.write(row.tobytes())
            dset[y] = row
    tmp_raw.replace(raw)
    tmp_h5.replace(h5)
    write_sidecar(
        sidecar,
        {
            "dtype": DTYPE.str,
            "nav_shape": list(NAV_SHAPE),
            "sig_shape": list(SIG_SHAPE),
            "path": raw.name,
            "offset": 0,
            "metadata": {
                "description": "synthetic demo: shifted bright disk, Poisson noise, grains"
            },
        },
    )
    return sidecar, h5
