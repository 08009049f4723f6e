"""Frames compressed by DECTRIS detectors: bitshuffle + LZ4 (``bs32-lz4<`` and its 16- and
8-bit forms, as in HDF5's bitshuffle filter) and plain LZ4 (``lz4<``).

A bitshuffle-LZ4 frame starts with a 12-byte header (the decompressed size as a big-endian
uint64, the block size in bytes as a big-endian uint32), then every block as a big-endian
uint32 compressed size and an LZ4 block of elements with their bits transposed; the last
``n % 8`` elements follow uncompressed.

A whole frame is decompressed by one call into bitshuffle's own C decompressor, the one
hdf5plugin ships (SIMD bit transposition, ``LZ4_decompress_safe``). ctypes releases the GIL
for the call, so a pool of threads decompresses frames in parallel beside the thread that
reads the socket. The C code trusts the block sizes it reads, so a compiled walk over the
block headers first checks that every block lies inside the bytes that arrived: a damaged
or truncated frame is a :class:`StreamError`, never a read past the buffer.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

import hdf5plugin
import lz4.block
import numpy as np
from numba import njit

from apps.core.live.stream import StreamError

HEADER_BYTES = 12
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
    """Decompress a bitshuffle-LZ4 frame (with its 12-byte header) into ``out``."""
    src = np.frombuffer(data, np.uint8)
    if src.size < HEADER_BYTES:
        raise ValueError(f"{src.size} bytes are shorter than the 12-byte header")
    total = int.from_bytes(src[:8].tobytes(), "big")
    block_bytes = int.from_bytes(src[8:12].tobytes(), "big")
    size = out.dtype.itemsize
    if total != out.nbytes or block_bytes % (8 * size) or not block_bytes:
        raise ValueError(
            f"header says {total} bytes in blocks of {block_bytes}, expected {out.nbytes} "
            f"bytes of {size}-byte pixels in blocks of a multiple of 8"
        )
    if not out.flags.c_contiguous:
        raise ValueError("the output frame must be C-contiguous")
    block = block_bytes // size
    used = _blocks_end(src, out.size, size, block)
    if used < 0:
        raise ValueError(f"the blocks run past the {src.size} bytes of the frame")
    done = _bitshuffle().bshuf_decompress_lz4(
        src.ctypes.data + HEADER_BYTES, out.ctypes.data, out.size, size, block
    )
    if done != used - HEADER_BYTES:
        raise ValueError(f"bitshuffle's decompressor failed (code {done})")


@cache
def _bitshuffle() -> ctypes.CDLL:
    """hdf5plugin's bitshuffle library (it carries LZ4 and needs nothing of HDF5's)."""
    lib = ctypes.CDLL(os.path.join(hdf5plugin.PLUGIN_PATH, "libh5bshuf.so"))
    fn = lib.bshuf_decompress_lz4
    fn.restype = ctypes.c_int64
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_size_t] * 3
    return lib


@njit(nogil=True, cache=True)
def _blocks_end(src, n, size, block):  # type: ignore[no-untyped-def]
    """Where the frame's last byte is (header, blocks and the ``n % 8`` plain elements),
    or -1 if a block's stated size or the plain tail runs past ``src``: the walk the C
    decompressor does, without trusting the sizes."""
    pos = 12
    left = n - n % 8
    while left > 0:
        count = min(block, left)
        if pos + 4 > src.size:
            return -1
        length = (
            (np.int64(src[pos]) << 24)
            | (np.int64(src[pos + 1]) << 16)
            | (np.int64(src[pos + 2]) << 8)
            | np.int64(src[pos + 3])
        )
        pos += 4 + length
        if pos > src.size:
            return -1
        left -= count
    pos += (n % 8) * size
    return pos if pos <= src.size else -1
