"""Deterministic benchmark datasets, streamed to disk a block of frames at a time.

Every frame is a bright disk (radius 40, centre shifting with the scan position) on a
background that is a fixed pseudo-random pattern rolled by the frame index: cheap to make
with whole-array numpy operations, never per element in Python, and the same bytes on every
machine. Files are written once and reused (a ``.done`` marker says a file is complete).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

BLOCK_FRAMES = 256


def frames(first: int, count: int, scan: int, sig: int) -> np.ndarray:
    """Frames ``[first, first + count)`` as ``(count, sig, sig)`` uint16 (values < 4096)."""
    rng = np.random.default_rng(20261124)
    background = rng.integers(0, 512, size=(sig, 2 * sig), dtype=np.uint16)
    idx = np.arange(first, first + count)
    shift = idx % sig
    cols = (np.arange(sig)[np.newaxis, :] + shift[:, np.newaxis]) % (2 * sig)
    out = np.empty((count, sig, sig), dtype=np.uint16)
    for k in range(count):  # one whole-frame gather per frame
        out[k] = background[:, cols[k]]
    y, x = np.ogrid[:sig, :sig]
    cy = sig / 2 + 4 * np.sin(2 * np.pi * (idx // scan) / scan)
    cx = sig / 2 + 4 * np.cos(2 * np.pi * (idx % scan) / scan)
    inside = (y - cy[:, None, None]) ** 2 + (x - cx[:, None, None]) ** 2 <= 40.0**2
    out += (inside * 3000).astype(np.uint16)
    return out


def _write_raw(path: Path, dtype: str, scan: int, sig: int) -> None:
    n = scan * scan
    with open(path, "wb") as f:
        for first in range(0, n, BLOCK_FRAMES):
            block = frames(first, min(BLOCK_FRAMES, n - first), scan, sig)
            f.write(block.astype(dtype, copy=False).tobytes())


def _write_h5(path: Path, scan: int, sig: int) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        dset = f.create_dataset(
            "data", shape=(scan, scan, sig, sig), dtype="<f4", chunks=(1, 1, sig, sig)
        )
        for row in range(scan):  # one scan row per write
            dset[row] = frames(row * scan, scan, scan, sig).astype(np.float32)


def write_compressed(path: Path, scan: int, sig: int, per_chunk: int) -> None:
    """The uint16 frames as a ``(scan, scan, sig, sig)`` HDF5 dataset ``/data``, bitshuffle/LZ4
    compressed as DECTRIS detectors write it, ``per_chunk`` frames of a scan row per chunk."""
    import h5py
    import hdf5plugin

    with h5py.File(path, "w") as f:
        dset = f.create_dataset(
            "data",
            shape=(scan, scan, sig, sig),
            dtype="<u2",
            chunks=(1, per_chunk, sig, sig),
            **hdf5plugin.Bitshuffle(cname="lz4"),
        )
        for row in range(scan):
            dset[row] = frames(row * scan, scan, scan, sig)


def ensure_compressed(
    folder: Path, scan: int, sig: int, log: Callable[[str], None] = print
) -> dict[str, dict]:
    """Create (once) the bitshuffle/LZ4 files of one and of 8 frames per chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for per_chunk in (1, 8):
        path = folder / f"scan-{scan}x{scan}-{sig}x{sig}-u16-bslz4-{per_chunk}f.h5"
        done = path.with_name(path.name + ".done")
        if not done.exists():
            log(f"generating {path} ...")
            tmp = path.with_name(path.name + ".tmp")
            write_compressed(tmp, scan, sig, per_chunk)
            os.replace(tmp, path)
            done.write_text("ok\n")
        made[f"bslz4-{per_chunk}f"] = {
            "file": str(path),
            "dtype": "<u2",
            "format": "hdf5",
            "nbytes": scan * scan * sig * sig * 2,
            "stored_bytes": path.stat().st_size,
        }
    return made


def ensure(
    folder: Path, scan: int, sig: int, log: Callable[[str], None] = print
) -> dict[str, dict]:
    """Create (once) the three datasets in ``folder``; return their descriptions."""
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{scan}x{scan}-{sig}x{sig}"
    made = {
        "f32": {"file": folder / f"scan-{tag}-f32.raw", "dtype": "<f4", "format": "raw"},
        "u16": {"file": folder / f"scan-{tag}-u16.raw", "dtype": "<u2", "format": "raw"},
        "h5": {"file": folder / f"scan-{tag}-f32.h5", "dtype": "<f4", "format": "hdf5"},
    }
    for key, info in made.items():
        path: Path = info["file"]
        done = path.with_name(path.name + ".done")
        if not done.exists():
            log(f"generating {path} ...")
            tmp = path.with_name(path.name + ".tmp")
            if key == "h5":
                _write_h5(tmp, scan, sig)
            else:
                _write_raw(tmp, info["dtype"], scan, sig)
            os.replace(tmp, path)
            done.write_text("ok\n")
        if info["format"] == "raw":
            sidecar = path.with_suffix(".json")
            sidecar.write_text(
                json.dumps(
                    {
                        "format": "libertem-raw",
                        "version": 1,
                        "path": path.name,
                        "nav_shape": [scan, scan],
                        "sig_shape": [sig, sig],
                        "dtype": info["dtype"],
                    }
                )
            )
            info["sidecar"] = sidecar
        info["nbytes"] = scan * scan * sig * sig * np.dtype(info["dtype"]).itemsize
    return {
        k: {kk: str(vv) if isinstance(vv, Path) else vv for kk, vv in v.items()}
        for k, v in made.items()
    }


def bench_masks(folder: Path, sig: int, count: int = 16) -> Path:
    """``count`` dense random masks ``(count, sig, sig)`` float32, saved once as .npy."""
    path = folder / f"masks-{count}x{sig}x{sig}.npy"
    if not path.exists():
        rng = np.random.default_rng(16)
        np.save(path, rng.random((count, sig, sig), dtype=np.float32))
    return path


if __name__ == "__main__":
    import sys

    scan = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    print(json.dumps(ensure(Path(os.environ.get("BENCH_DATA", ".bench-data")), scan, 256)))
