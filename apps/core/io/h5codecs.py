"""Decoders for the compressed HDF5 chunks the Core reads itself, one call per chunk.

Each decoder turns the stored bytes of one chunk (an address and a length in a memory map of
the file) into the chunk's raw bytes at a destination address, with the GIL released, so a
few threads decode the chunks of a tile side by side:

* ``bslz4``: bitshuffle with LZ4 (HDF5 filter 32008, compression 2: DECTRIS Eiger and Arina
  files), through ``bshuf_decompress_lz4`` of hdf5plugin's own bitshuffle library (the code
  HDF5 would run, with its SIMD bit transpose);
* ``lz4``: the HDF5 LZ4 filter (32004), ``LZ4_decompress_safe`` per block of that library;
* ``deflate``: gzip (filter 1), zlib's ``uncompress``.

The libraries are called through ctypes, which releases the GIL for the call. A chunk's
block structure is checked (:mod:`apps.core.io.h5codecs_jit`, one compiled pass over all the
chunks of a tile) before bitshuffle runs, as bitshuffle trusts the block sizes stored in the
chunk and would read past a damaged one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from dataclasses import dataclass

import hdf5plugin
import numpy as np

from apps.core.errors import DataSetError

BITSHUFFLE_FILTER = 32008
LZ4_FILTER = 32004
DEFLATE_FILTER = 1
#: bitshuffle's ``cd_values[4]`` for LZ4 compression (0: none, 3: zstd).
BITSHUFFLE_LZ4 = 2
HEADER_BYTES = 12  # big-endian uint64 raw bytes + uint32 block bytes, both codecs


@dataclass(frozen=True)
class Codec:
    """How the chunks of a dataset were compressed: ``name`` (``bslz4``, ``lz4`` or
    ``deflate``) and the element size bitshuffle transposes in."""

    name: str
    itemsize: int


def codec_for(filters: list[tuple[int, tuple[int, ...]]], itemsize: int) -> Codec | None:
    """The decoder for a filter pipeline ``[(filter id, cd_values), ...]``, or None when the
    Core has none (the reader then falls back to h5py, which runs HDF5's own pipeline)."""
    if len(filters) != 1:
        return None
    fid, values = filters[0]
    if fid == BITSHUFFLE_FILTER:
        compression = values[4] if len(values) > 4 else 0
        element = values[2] if len(values) > 2 else itemsize
        if compression == BITSHUFFLE_LZ4 and element == itemsize:
            return Codec("bslz4", itemsize)
        return None
    if fid == LZ4_FILTER:
        return Codec("lz4", itemsize)
    if fid == DEFLATE_FILTER:
        return Codec("deflate", itemsize)
    return None


@functools.cache
def _bitshuffle() -> ctypes.CDLL:
    lib = ctypes.CDLL(os.path.join(hdf5plugin.PLUGIN_PATH, "libh5bshuf.so"))
    lib.bshuf_decompress_lz4.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_size_t] * 3
    lib.bshuf_decompress_lz4.restype = ctypes.c_int64
    lib.LZ4_decompress_safe.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.LZ4_decompress_safe.restype = ctypes.c_int
    return lib


@functools.cache
def _zlib() -> ctypes.CDLL:
    name = ctypes.util.find_library("z")
    if name is None:
        raise DataSetError("zlib (libz) is not installed: gzip-compressed HDF5 cannot be read.")
    lib = ctypes.CDLL(name)
    lib.uncompress.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.c_void_p,
        ctypes.c_ulong,
    ]
    lib.uncompress.restype = ctypes.c_int
    return lib


def read_be(src: np.ndarray, at: int, nbytes: int) -> int:
    """The big-endian unsigned integer of ``nbytes`` bytes at ``src[at:]``."""
    return int.from_bytes(src[at : at + nbytes].tobytes(), "big")


class ChunkDecoder:
    """Decodes chunks of ``raw_bytes`` each with ``codec``; one per thread (it keeps the
    thread's zlib length cell)."""

    def __init__(self, codec: Codec, raw_bytes: int) -> None:
        self.codec = codec
        self.raw_bytes = raw_bytes
        self._length = ctypes.c_ulong(0)
        self._decode = {"bslz4": self._bslz4, "lz4": self._lz4, "deflate": self._deflate}[
            codec.name
        ]

    def __call__(self, src: np.ndarray, offset: int, size: int, dst: int) -> str | None:
        """Decode ``src[offset : offset + size]`` to address ``dst`` (``raw_bytes`` writable
        bytes there); returns None, or what is wrong with the chunk."""
        return self._decode(src, offset, size, dst)

    def _bslz4(self, src: np.ndarray, offset: int, size: int, dst: int) -> str | None:
        item = self.codec.itemsize
        block = read_be(src, offset + 8, 4) // item
        base = src.ctypes.data + offset + HEADER_BYTES
        used = _bitshuffle().bshuf_decompress_lz4(base, dst, self.raw_bytes // item, item, block)
        if used != size - HEADER_BYTES:
            return f"bitshuffle/LZ4 decoding failed (code {used})"
        return None

    def _lz4(self, src: np.ndarray, offset: int, size: int, dst: int) -> str | None:
        if size < HEADER_BYTES or read_be(src, offset, 8) != self.raw_bytes:
            return f"its header does not give the chunk's {self.raw_bytes} bytes"
        block = read_be(src, offset + 8, 4)
        if block == 0:
            return "its header gives LZ4 blocks of 0 bytes"
        at, end, done = offset + HEADER_BYTES, offset + size, 0
        base = src.ctypes.data
        while done < self.raw_bytes:
            want = min(block, self.raw_bytes - done)
            stored = read_be(src, at, 4)
            at += 4
            if stored > end - at:
                return "an LZ4 block runs past the end of the chunk"
            if stored == want:  # the filter keeps incompressible blocks as they are
                ctypes.memmove(dst + done, base + at, want)
                got = want
            else:
                got = _bitshuffle().LZ4_decompress_safe(base + at, dst + done, stored, want)
            if got != want:
                return f"LZ4 decoding failed (code {got})"
            at += stored
            done += want
        return None if at == end else "the chunk has bytes after its last LZ4 block"

    def _deflate(self, src: np.ndarray, offset: int, size: int, dst: int) -> str | None:
        self._length.value = self.raw_bytes
        code = _zlib().uncompress(dst, ctypes.byref(self._length), src.ctypes.data + offset, size)
        if code != 0 or self._length.value != self.raw_bytes:
            return f"zlib decoding failed (code {code}, {self._length.value} bytes)"
        return None
