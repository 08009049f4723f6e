"""Electron-counted benchmark datasets in LiberTEM's ``raw_csr`` format, made once.

Each frame has Poisson-many events (``density`` electrons per pixel on average): half fall in
a bright disk of radius 40 whose centre moves with the scan position, half anywhere on the
detector. Events on the same pixel of a frame are merged into one count (uint8), so the rows
are canonical CSR (sorted, unique pixels), as a detector's event stream binned per frame is.
Seeded: the same files on every machine; a ``.done`` marker says a dataset is complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from apps.core.io.raw_csr import write_descriptor

BLOCK_FRAMES = 1024
DISK_RADIUS = 40.0


def _block(first: int, count: int, scan: int, sig: int, density: float):  # type: ignore[no-untyped-def]
    """CSR arrays (indptr from 0, indices, values) of frames ``[first, first + count)``."""
    rng = np.random.default_rng([20261205, first, int(density * 1e6)])
    c = sig * sig
    per_frame = rng.poisson(density * c, size=count)
    frame = np.repeat(np.arange(count), per_frame)
    n = frame.size
    in_disk = rng.random(n) < 0.5
    angle = rng.random(n) * 2 * np.pi
    radius = DISK_RADIUS * np.sqrt(rng.random(n))
    idx = first + frame
    cy = sig / 2 + 8 * np.sin(2 * np.pi * (idx // scan) / scan)
    cx = sig / 2 + 8 * np.cos(2 * np.pi * (idx % scan) / scan)
    y = np.where(in_disk, cy + radius * np.sin(angle), rng.random(n) * sig)
    x = np.where(in_disk, cx + radius * np.cos(angle), rng.random(n) * sig)
    pixel = np.clip(y.astype(np.int64), 0, sig - 1) * sig + np.clip(x.astype(np.int64), 0, sig - 1)
    keys, counts = np.unique(frame * c + pixel, return_counts=True)
    rows = keys // c
    indptr = np.searchsorted(rows, np.arange(count + 1), side="left")
    return indptr, (keys % c).astype(np.int32), counts.astype(np.uint8)


def ensure_sparse(
    folder: Path, scan: int, sig: int, density: float, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """The ``raw_csr`` dataset of ``density`` electrons per pixel (made once); its description."""
    folder.mkdir(parents=True, exist_ok=True)
    toml = folder / f"csr-{scan}x{scan}-{sig}x{sig}-d{density:g}.toml"
    done = toml.with_name(toml.name + ".done")
    if not done.exists():
        log(f"generating {toml} ...")
        n = scan * scan
        base = str(toml.with_suffix("")) + "-part"
        indptr = [np.zeros(1, np.int64)]
        with open(f"{base}.indices", "wb") as fi, open(f"{base}.values", "wb") as fv:
            total = 0
            for first in range(0, n, BLOCK_FRAMES):
                ptr, indices, values = _block(
                    first, min(BLOCK_FRAMES, n - first), scan, sig, density
                )
                indptr.append(ptr[1:] + total)
                total += int(ptr[-1])
                fi.write(indices.tobytes())
                fv.write(values.tobytes())
        np.concatenate(indptr).astype(np.int64).tofile(f"{base}.indptr")
        final = str(toml.with_suffix(""))
        for suffix in ("indptr", "indices", "values"):
            os.replace(f"{base}.{suffix}", f"{final}.{suffix}")
        dtypes = {"indptr": "<i8", "indices": "<i4", "data": "|u1"}
        write_descriptor(toml, nav_shape=(scan, scan), sig_shape=(sig, sig), dtypes=dtypes)
        done.write_text("ok\n")
    events = os.path.getsize(toml.with_suffix(".values"))
    return {
        "file": str(toml),
        "format": "raw_csr",
        "dtype": "|u1",
        "density": density,
        "events": events,
        "nbytes": scan * scan * sig * sig,  # the dense frames, uint8, as both sides count them
    }
