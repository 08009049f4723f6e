"""Recorded DECTRIS zmq streams for ``libertem-live-dectris-sim``, written from frames.

A capture is the stream's messages back to back, each preceded by its length (int64, little
endian): the series header (``dheader-1.0``), the detector configuration, four messages per
frame (``dimage-1.0``, ``dimage_d-1.0``, the compressed pixels, ``dconfig-1.0``) and the
series end. Pixels are compressed by HDF5's bitshuffle filter (hdf5plugin) and taken out of
the file as stored (``read_direct_chunk``), as a DCU sends them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

SERIES = 42


def bslz4_chunks(frames: np.ndarray, workdir: Path) -> list[bytes]:
    """Every frame of ``frames`` ``(n, sy, sx)`` compressed by bitshuffle + LZ4."""
    path = workdir / "bslz4-frames.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "data", data=frames, chunks=(1, *frames.shape[1:]), **hdf5plugin.Bitshuffle(cname="lz4")
        )
    return stored_chunks(path, "data")


def stored_chunks(path: Path, name: str) -> list[bytes]:
    """The stored (compressed) bytes of every frame of a dataset chunked one frame a chunk."""
    with h5py.File(path, "r") as f:
        dset = f[name]
        return [dset.id.read_direct_chunk((i, 0, 0))[1] for i in range(dset.shape[0])]


def write_capture(
    path: Path,
    chunks: Sequence[bytes],
    *,
    sig_shape: tuple[int, int],
    dtype: str,
    indices: Sequence[int] | None = None,
    encoding: str = "bs32-lz4<",
    trigger_mode: str = "exte",
) -> Path:
    """A capture of one series: ``chunks`` as frames ``indices`` (default 0, 1, ...)."""
    indices = list(range(len(chunks))) if indices is None else list(indices)
    bits = np.dtype(dtype).itemsize * 8
    config = {
        "ntrigger": len(chunks) if trigger_mode == "exte" else 1,
        "nimages": 1 if trigger_mode == "exte" else len(chunks),
        "trigger_mode": trigger_mode,
        "x_pixels_in_detector": sig_shape[1],
        "y_pixels_in_detector": sig_shape[0],
        "bit_depth_image": bits,
        "count_time": 0.001,
        "frame_time": 0.001,
        "compression": "bslz4",
    }
    messages = [
        {"htype": "dheader-1.0", "header_detail": "basic", "series": SERIES},
        config,
    ]
    for index, chunk in zip(indices, chunks, strict=True):
        messages += [
            {
                "htype": "dimage-1.0",
                "series": SERIES,
                "frame": index,
                "hash": hashlib.md5(chunk, usedforsecurity=False).hexdigest(),
            },
            {
                "htype": "dimage_d-1.0",
                "shape": [sig_shape[1], sig_shape[0]],
                "type": f"uint{bits}",
                "encoding": encoding,
            },
            chunk,
            {"htype": "dconfig-1.0", "start_time": index, "stop_time": index + 1, "real_time": 1},
        ]
    messages.append({"htype": "dseries_end-1.0", "series": SERIES})
    with open(path, "wb") as f:
        for m in messages:
            blob = m if isinstance(m, bytes) else json.dumps(m).encode()
            f.write(np.array(len(blob), dtype="<i8").tobytes())
            f.write(blob)
    return path


def bslz4_capture(path: Path, frames: np.ndarray, **kwargs: object) -> Path:
    """A capture of ``frames`` ``(n, sy, sx)`` compressed by bitshuffle + LZ4 as a DCU sends
    them (the encoding of their dtype); ``kwargs`` as :func:`write_capture` takes them."""
    dtype = frames.dtype.str
    return write_capture(
        path,
        bslz4_chunks(frames, path.parent),
        sig_shape=frames.shape[1:],
        dtype=dtype,
        encoding=f"bs{frames.dtype.itemsize * 8}-lz4<",
        **kwargs,  # type: ignore[arg-type]
    )
