"""The numba-compiled mask product behind :class:`apps.core.kernels.MaskProduct`.

``out[f, j] += sum_k data[f, k] * weights[j, k]``, six frames by four masks at a time: 24 running
sums, each a vector register once LLVM vectorises the pixel loop, fed by ten loads per 24
multiply-adds. The pixels go in blocks that keep the four mask rows in L2. Measured on the
benchmark machine over float32 in memory, two threads: 25 GB/s, against 18 GB/s for OpenBLAS's
SGEMM, which copies (packs) every block of the data before it multiplies.

Rows are addressed through a flat array and a row stride, so a row of a strided tile (a span
of each frame, a view of a memory map) is still a contiguous, vectorisable range; indices are
unsigned so numba adds no negative-index wraparound, which would stop the vectoriser.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

#: Frames and masks of one block of running sums (the loop below is written out for these).
FRAMES, MASKS = 6, 4
#: Pixels per block: four mask rows of float32 take 128 KiB of L2.
PIXELS = 8192

_FAST = {"nsz", "arcp", "contract", "reassoc"}


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def product(data, stride, frames, width, weights, masks, out):  # type: ignore[no-untyped-def]
    """Adds ``data . weights.T`` into ``out`` (float64, ``(frames, masks)``).

    ``data``: flat float32, frame ``f`` at ``data[f * stride : f * stride + width]``;
    ``weights``: flat float32, mask ``j`` at ``weights[j * width : (j + 1) * width]``.
    ``frames`` must be a multiple of FRAMES and ``masks`` of MASKS (the caller pads).
    """
    for p0 in range(0, width, PIXELS):
        n = min(width, p0 + PIXELS) - p0
        for f in range(0, frames, FRAMES):
            r0 = uint64(f * stride + p0)
            r1 = r0 + uint64(stride)
            r2 = r1 + uint64(stride)
            r3 = r2 + uint64(stride)
            r4 = r3 + uint64(stride)
            r5 = r4 + uint64(stride)
            for j in range(0, masks, MASKS):
                w0 = uint64(j * width + p0)
                w1 = w0 + uint64(width)
                w2 = w1 + uint64(width)
                w3 = w2 + uint64(width)
                s00 = s01 = s02 = s03 = np.float32(0)
                s10 = s11 = s12 = s13 = np.float32(0)
                s20 = s21 = s22 = s23 = np.float32(0)
                s30 = s31 = s32 = s33 = np.float32(0)
                s40 = s41 = s42 = s43 = np.float32(0)
                s50 = s51 = s52 = s53 = np.float32(0)
                for i in range(n):
                    k = uint64(i)
                    m0 = weights[w0 + k]
                    m1 = weights[w1 + k]
                    m2 = weights[w2 + k]
                    m3 = weights[w3 + k]
                    x = np.float32(data[r0 + k])
                    s00 += x * m0
                    s01 += x * m1
                    s02 += x * m2
                    s03 += x * m3
                    x = np.float32(data[r1 + k])
                    s10 += x * m0
                    s11 += x * m1
                    s12 += x * m2
                    s13 += x * m3
                    x = np.float32(data[r2 + k])
                    s20 += x * m0
                    s21 += x * m1
                    s22 += x * m2
                    s23 += x * m3
                    x = np.float32(data[r3 + k])
                    s30 += x * m0
                    s31 += x * m1
                    s32 += x * m2
                    s33 += x * m3
                    x = np.float32(data[r4 + k])
                    s40 += x * m0
                    s41 += x * m1
                    s42 += x * m2
                    s43 += x * m3
                    x = np.float32(data[r5 + k])
                    s50 += x * m0
                    s51 += x * m1
                    s52 += x * m2
                    s53 += x * m3
                o = out[f]
                o[j] += s00
                o[j + 1] += s01
                o[j + 2] += s02
                o[j + 3] += s03
                o = out[f + 1]
                o[j] += s10
                o[j + 1] += s11
                o[j + 2] += s12
                o[j + 3] += s13
                o = out[f + 2]
                o[j] += s20
                o[j + 1] += s21
                o[j + 2] += s22
                o[j + 3] += s23
                o = out[f + 3]
                o[j] += s30
                o[j + 1] += s31
                o[j + 2] += s32
                o[j + 3] += s33
                o = out[f + 4]
                o[j] += s40
                o[j + 1] += s41
                o[j + 2] += s42
                o[j + 3] += s43
                o = out[f + 5]
                o[j] += s50
                o[j + 1] += s51
                o[j + 2] += s52
                o[j + 3] += s53
