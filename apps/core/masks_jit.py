"""The numba-compiled mask product behind :class:`apps.core.kernels.MaskProduct`.

``out[f, j] += sum_k data[f, k] * weights[j, k]``, six frames by a few masks at a time: the
running sums of one block of frames and masks each take a vector register once LLVM
vectorises the pixel loop, and each load of a frame's or a mask's pixels feeds several
multiply-adds. How many sums fit in registers depends on the host:

* with AVX-512 (32 vector registers), six frames by four masks: 24 sums, ten loads per 24
  multiply-adds (:func:`product_6x4`);
* with AVX2 (16 vector registers), six frames by two masks: 12 sums, eight loads per 12
  multiply-adds (:func:`product_6x2`). Six by four needs 29 registers there, and LLVM spills
  20 of the sums to the stack, a store and a load around every multiply-add: on the AMD EPYC
  (Zen 3) benchmark machine, 16 masks over a 512 MiB float32 map with two threads ran at
  5.2–6.6 GB/s six by four and 7.2–9.3 GB/s six by two.

The pixels go in blocks that keep the mask rows in L2, and each block in spans that keep six
frames' and all masks' pixels in L1: every group of masks passes over a span of the six frames
before the next span, so the frames are read from L2 once, not once per group of masks (on
the Intel benchmark machine, 16 masks over the 4 GiB float32 file in process: 11.8 -> 15 GB/s;
uint16: 7.4 -> 8.9 GB/s). Rows are addressed through a flat array
and a row stride, so a row of a strided tile (a span of each frame, a view of a memory map) is
still a contiguous, vectorisable range; indices are unsigned so numba adds no negative-index
wraparound, which would stop the vectoriser.
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding
from numba import config, njit, uint64

#: Frames of one block of running sums (both loops below are written out for six).
FRAMES = 6
#: Pixels per block: a block's mask rows of float32 take 32 KiB each, in L2.
PIXELS = 8192
#: Pixels per span of a block: six frames' and all masks' pixels of a span (16 masks: 22 KiB)
#: stay in L1 while each group of masks passes over them.
SPAN = 256

_FAST = {"nsz", "arcp", "contract", "reassoc"}


def masks_per_block(cpu_features: str) -> int:
    """Masks per block of running sums for LLVM's CPU features (``"+avx2,-avx512f,..."``):
    4 with AVX-512's 32 vector registers, else 2."""
    return 4 if "+avx512f" in cpu_features.split(",") else 2


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def product_6x4(data, stride, frames, width, weights, masks, out):  # type: ignore[no-untyped-def]
    """Adds ``data . weights.T`` into ``out`` (float64, ``(frames, masks)``).

    ``data``: flat float32, frame ``f`` at ``data[f * stride : f * stride + width]``;
    ``weights``: flat float32, mask ``j`` at ``weights[j * width : (j + 1) * width]``.
    ``frames`` must be a multiple of FRAMES and ``masks`` of 4 (the caller pads).
    """
    # One group of masks reads each span once: spans would only add their ends.
    span = SPAN if masks > 4 else PIXELS
    for b0 in range(0, width, PIXELS):
        b1 = min(width, b0 + PIXELS)
        for f in range(0, frames, FRAMES):
            for p0 in range(b0, b1, span):
                n = min(b1, p0 + span) - p0
                r0 = uint64(f * stride + p0)
                r1 = r0 + uint64(stride)
                r2 = r1 + uint64(stride)
                r3 = r2 + uint64(stride)
                r4 = r3 + uint64(stride)
                r5 = r4 + uint64(stride)
                for j in range(0, masks, 4):
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


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def product_6x2(data, stride, frames, width, weights, masks, out):  # type: ignore[no-untyped-def]
    """:func:`product_6x4` for hosts with 16 vector registers: ``masks`` a multiple of 2."""
    # One group of masks reads each span once: spans would only add their ends.
    span = SPAN if masks > 2 else PIXELS
    for b0 in range(0, width, PIXELS):
        b1 = min(width, b0 + PIXELS)
        for f in range(0, frames, FRAMES):
            for p0 in range(b0, b1, span):
                n = min(b1, p0 + span) - p0
                r0 = uint64(f * stride + p0)
                r1 = r0 + uint64(stride)
                r2 = r1 + uint64(stride)
                r3 = r2 + uint64(stride)
                r4 = r3 + uint64(stride)
                r5 = r4 + uint64(stride)
                for j in range(0, masks, 2):
                    w0 = uint64(j * width + p0)
                    w1 = w0 + uint64(width)
                    s00 = s01 = s10 = s11 = s20 = s21 = np.float32(0)
                    s30 = s31 = s40 = s41 = s50 = s51 = np.float32(0)
                    for i in range(n):
                        k = uint64(i)
                        m0 = weights[w0 + k]
                        m1 = weights[w1 + k]
                        x = np.float32(data[r0 + k])
                        s00 += x * m0
                        s01 += x * m1
                        x = np.float32(data[r1 + k])
                        s10 += x * m0
                        s11 += x * m1
                        x = np.float32(data[r2 + k])
                        s20 += x * m0
                        s21 += x * m1
                        x = np.float32(data[r3 + k])
                        s30 += x * m0
                        s31 += x * m1
                        x = np.float32(data[r4 + k])
                        s40 += x * m0
                        s41 += x * m1
                        x = np.float32(data[r5 + k])
                        s50 += x * m0
                        s51 += x * m1
                    out[f, j] += s00
                    out[f, j + 1] += s01
                    out[f + 1, j] += s10
                    out[f + 1, j + 1] += s11
                    out[f + 2, j] += s20
                    out[f + 2, j + 1] += s21
                    out[f + 3, j] += s30
                    out[f + 3, j + 1] += s31
                    out[f + 4, j] += s40
                    out[f + 4, j + 1] += s41
                    out[f + 5, j] += s50
                    out[f + 5, j + 1] += s51


#: The loop for each number of masks per block.
PRODUCTS = {4: product_6x4, 2: product_6x2}
#: Masks per block on this host (numba compiles for ``NUMBA_CPU_FEATURES`` when it is set).
MASKS = masks_per_block(
    getattr(config, "CPU_FEATURES", None) or binding.get_host_cpu_features().flatten()
)
