"""Frames compressed by DECTRIS detectors: bitshuffle + LZ4 (``bs32-lz4<`` and its 16- and
8-bit forms, as in HDF5's bitshuffle filter) and plain LZ4 (``lz4<``).

A bitshuffle-LZ4 frame starts with a 12-byte header (the decompressed size as a big-endian
uint64, the block size in bytes as a big-endian uint32), then every block as a big-endian
uint32 compressed size and an LZ4 block of elements with their bits transposed; the last
``n % 8`` elements follow uncompressed.

A frame is laid out as a chunk of HDF5's bitshuffle filter, so it is decoded as the HDF5
reader decodes such a chunk (:mod:`apps.core.io.h5codecs`): its block sizes checked by one
compiled pass, then one call into bitshuffle's own C decompressor (hdf5plugin's library,
SIMD bit transposition), which releases the GIL, so a pool of threads decompresses frames
beside the thread that reads the socket. A damaged or cut-off frame is a
:class:`StreamError`, never a read past the buffer.
"""

from __future__ import annotations

from functools import cache

import lz4.block
import numpy as np

from apps.core.io.h5codecs import ChunkDecoder, Codec
from apps.core.live.stream import StreamError

BSLZ4 = ("bs32-lz4", "bs16-lz4", "bs8-lz4")


def decode_frame(data: bytes | memoryview, encoding: str, out: np.ndarray) -> None:
    """Decompress one frame of ``encoding`` into ``out`` (C-contiguous, of the frame's
    dtype and size); a frame that does not decode is a :class:`StreamError`. Releases the
    GIL while it decompresses."""
    base = encoding.rstrip("<>")
    try:
        if base in BSLZ4:
            decode_bslz4(data, out)
        elif base == "lz4":
            raw = lz4.block.decompress(data, uncompressed_size=out.nbytes)
            out.view(np.uint8).reshape(-1)[:] = np.frombuffer(raw, np.uint8)
        elif base == "":
            out.view(np.uint8).reshape(-1)[:] = np.frombuffer(data, np.uint8)
        else:
            raise StreamError(
                f"frame encoding {encoding!r} is not supported; expected bs32-lz4, bs16-lz4, "
                "bs8-lz4, lz4 or none."
            )
    except (lz4.block.LZ4BlockError, ValueError) as exc:
        raise StreamError(f"a frame of encoding {encoding!r} does not decompress: {exc}") from exc


def decode_bslz4(data: bytes | memoryview, out: np.ndarray) -> None:
    """Decompress a bitshuffle-LZ4 frame (with its 12-byte header) into ``out``: the HDF5
    reader's chunk check and decoder, the frame being one chunk."""
    from apps.core.io import h5codecs_jit

    if not out.flags.c_contiguous:
        raise ValueError("the output frame must be C-contiguous")
    src = np.frombuffer(data, np.uint8)
    item = out.dtype.itemsize
    bounds = np.array([0, src.size], dtype=np.int64)
    if h5codecs_jit.first_bad_bslz4(src, bounds[:1], bounds[1:], out.nbytes, item) >= 0:
        raise ValueError(
            f"its header or block sizes do not describe {out.nbytes} bytes of {item}-byte "
            f"pixels in its {src.size} bytes (damaged or cut off)"
        )
    problem = _decoder(item, out.nbytes)(src, 0, src.size, out.ctypes.data)
    if problem is not None:
        raise ValueError(problem)


@cache
def _decoder(itemsize: int, nbytes: int) -> ChunkDecoder:
    """bitshuffle/LZ4 decoding holds no state: one decoder serves every thread."""
    return ChunkDecoder(Codec("bslz4", itemsize), nbytes)
