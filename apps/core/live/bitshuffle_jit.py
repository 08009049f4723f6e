"""The numba-compiled bit transposition behind :mod:`apps.core.live.bslz4`."""

from __future__ import annotations

import numpy as np
from numba import njit

_M1 = np.uint64(0x00AA00AA00AA00AA)
_M2 = np.uint64(0x0000CCCC0000CCCC)
_M3 = np.uint64(0x00000000F0F0F0F0)
_S1, _S2, _S3 = np.uint64(7), np.uint64(14), np.uint64(28)
_BYTE = np.uint64(0xFF)


@njit(nogil=True, cache=True, boundscheck=False)
def _transpose8(x):  # type: ignore[no-untyped-def]
    """The 8 x 8 bit matrix in ``x`` (row ``k`` its byte ``k``) transposed (Hacker's Delight,
    section 7-3: three exchanges of ever larger sub-blocks)."""
    t = (x ^ (x >> _S1)) & _M1
    x = x ^ t ^ (t << _S1)
    t = (x ^ (x >> _S2)) & _M2
    x = x ^ t ^ (t << _S2)
    t = (x ^ (x >> _S3)) & _M3
    return x ^ t ^ (t << _S3)


@njit(nogil=True, cache=True, boundscheck=False)
def unshuffle(src, dst, n, size):  # type: ignore[no-untyped-def]
    """Undo bitshuffle's transposition of ``n`` elements (``n`` a multiple of 8) of ``size``
    bytes: ``src`` holds ``8 * size`` rows of ``n / 8`` bytes, row ``8 * b + k`` bit ``k`` of
    byte ``b`` of every element (least significant bit first); ``dst`` gets the elements.

    Eight elements' byte ``b`` are the transpose of the 8 x 8 bits at column ``j`` of rows
    ``8 * b`` to ``8 * b + 7``."""
    row_bytes = n // 8
    for b in range(size):
        for jj in range(row_bytes):
            x = np.uint64(0)
            for k in range(8):
                x |= np.uint64(src[(8 * b + k) * row_bytes + jj]) << np.uint64(8 * k)
            if x != 0:
                x = _transpose8(x)
            first = jj * 8 * size + b
            for t in range(8):
                dst[first + t * size] = (x >> np.uint64(8 * t)) & _BYTE
