"""The compiled check of bitshuffle/LZ4 chunks' block structure (imported on first use).

bitshuffle's decoder takes the compressed size of each block from the chunk and reads that
many bytes; this pass walks the same sizes first and refuses a chunk whose blocks do not end
exactly at its stored size, so a damaged chunk is an error instead of a read past the chunk.
"""

from __future__ import annotations

from numba import njit

#: bitshuffle transposes blocks of a multiple of eight elements; the rest is stored as is.
BLOCKED_MULT = 8


@njit(nogil=True, cache=True)
def _be(src, at, nbytes):  # type: ignore[no-untyped-def]
    value = 0
    for i in range(nbytes):
        value = (value << 8) | src[at + i]
    return value


@njit(nogil=True, cache=True)
def _chunk_ok(src, offset, size, raw_bytes, itemsize):  # type: ignore[no-untyped-def]
    if size < 12 or _be(src, offset, 8) != raw_bytes:
        return False
    block_bytes = _be(src, offset + 8, 4)
    block = block_bytes // itemsize
    if block == 0 or block % BLOCKED_MULT or block_bytes % itemsize:
        return False
    at, end = offset + 12, offset + size
    left = raw_bytes // itemsize
    while left >= BLOCKED_MULT:
        if at + 4 > end:
            return False
        at += 4 + _be(src, at, 4)
        if at > end:
            return False
        left -= min(block, left - left % BLOCKED_MULT)
    return at + left * itemsize == end


@njit(nogil=True, cache=True)
def first_bad_bslz4(src, offsets, sizes, raw_bytes, itemsize):  # type: ignore[no-untyped-def]
    """Index of the first chunk ``src[offsets[i] : offsets[i] + sizes[i]]`` whose header or
    blocks do not describe ``raw_bytes`` of ``itemsize`` elements, or -1 if all do."""
    for i in range(offsets.shape[0]):
        if not _chunk_ok(src, offsets[i], sizes[i], raw_bytes, itemsize):
            return i
    return -1
