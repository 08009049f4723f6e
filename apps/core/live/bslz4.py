"""Frames compressed by DECTRIS detectors: bitshuffle + LZ4 (``bs32-lz4<`` and its 16- and
8-bit forms, as in HDF5's bitshuffle filter) and plain LZ4 (``lz4<``).

A bitshuffle-LZ4 frame starts with a 12-byte header (the decompressed size as a big-endian
uint64, the block size in bytes as a big-endian uint32), then every block as a big-endian
uint32 compressed size and an LZ4 block. A block holds ``block size`` bytes of elements with
their bits transposed (:func:`apps.core.live.bitshuffle_jit.unshuffle`); the last block holds
the elements left over rounded down to a multiple of eight, and the last ``n % 8`` elements
follow uncompressed.
"""

from __future__ import annotations

import lz4.block
import numpy as np

from apps.core.live.stream import StreamError

HEADER_BYTES = 12


def decode_frame(data: bytes | memoryview, encoding: str, out: np.ndarray) -> None:
    """Decompress one frame of ``encoding`` into ``out`` (C-contiguous, of the frame's
    dtype and size); a frame that does not decode is a :class:`StreamError`."""
    base = encoding.rstrip("<>")
    try:
        if base in ("bs32-lz4", "bs16-lz4", "bs8-lz4"):
            decode_bslz4(memoryview(data), out)
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


def decode_bslz4(data: memoryview, out: np.ndarray) -> None:
    """Decompress a bitshuffle-LZ4 frame (with its 12-byte header) into ``out``."""
    from apps.core.live.bitshuffle_jit import unshuffle

    total = int.from_bytes(data[:8], "big")
    block_bytes = int.from_bytes(data[8:12], "big")
    size = out.dtype.itemsize
    if total != out.nbytes or block_bytes % size or block_bytes < 8 * size:
        raise ValueError(
            f"header says {total} bytes in blocks of {block_bytes}, expected {out.nbytes} "
            f"bytes of {size}-byte pixels"
        )
    dst = out.view(np.uint8).reshape(-1)
    n = out.size
    per_block = block_bytes // size
    pos, elem = HEADER_BYTES, 0
    while elem < n - n % 8:
        count = min(per_block, (n - elem) - (n - elem) % 8)
        length = int.from_bytes(data[pos : pos + 4], "big")
        raw = lz4.block.decompress(data[pos + 4 : pos + 4 + length], uncompressed_size=count * size)
        src = np.frombuffer(raw, np.uint8)
        unshuffle(src, dst[elem * size : (elem + count) * size], count, size)
        pos += 4 + length
        elem += count
    rest = (n - elem) * size
    dst[elem * size :] = np.frombuffer(data[pos : pos + rest], np.uint8)
