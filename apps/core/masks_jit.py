"""The numba-compiled mask product behind :class:`apps.core.kernels.MaskProduct`.

``out[f, j] += sum_k data[f, k] * weights[j, k]``, six frames by a few masks at a time: the
running sums of one block of frames and masks each take a vector register once LLVM
vectorises the pixel loop, and each load of a frame's or a mask's pixels feeds several
multiply-adds. How many sums fit in registers depends on the host:

* with AVX-512 (32 vector registers), six frames by four masks: 24 sums, ten loads per 24
  multiply-adds (:func:`product_6x4`);
* with AVX2 (16 vector registers), six frames by two masks: 12 sums, eight loads per 12
  multiply-adds (:func:`product_6x2`). Six by four needs 29 registers there, and LLVM spills
  20 of the sums to the stack, a store and a load around every multiply-add, which made it
  slower than six by two (figures in docs/performance.md).

The pixels go in blocks that keep the mask rows in L2, and each block in spans that keep six
frames' and all masks' pixels in L1: every group of masks passes over a span of the six frames
before the next span, so the frames are read from L2 once, not once per group of masks (which
measured faster: docs/performance.md). Rows are addressed through a flat array and a row
stride, so a row of a strided tile (a span of each frame, a view of a memory map) is still a
contiguous, vectorisable range; indices are unsigned so numba adds no negative-index
wraparound, which would stop the vectoriser.

The two loops keep a loop nest each: one function choosing the block inside a shared nest, or
the six frames' row offsets from a helper, compiled to other machine code with more spills,
and measured slower. The per-frame lines go through small helpers inlined before LLVM sees
them, which compile to the same machine code as the sums written out by hand.
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


# The helpers are inlined into the loops (numba's IR, before LLVM sees it): the running sums
# stay scalars in vector registers, as if written out by hand.
@njit(inline="always")
def _add4(pixel, m, s0, s1, s2, s3):  # type: ignore[no-untyped-def]
    """The running sums of one frame and four masks plus the frame's ``pixel`` (converted to
    float32 in a register) times the masks' pixels ``m``."""
    x = np.float32(pixel)
    return s0 + x * m[0], s1 + x * m[1], s2 + x * m[2], s3 + x * m[3]


@njit(inline="always")
def _add2(pixel, m, s0, s1):  # type: ignore[no-untyped-def]
    """:func:`_add4` for two masks."""
    x = np.float32(pixel)
    return s0 + x * m[0], s1 + x * m[1]


@njit(inline="always")
def _store4(row, j, s0, s1, s2, s3):  # type: ignore[no-untyped-def]
    """Adds one frame's running sums of masks ``j`` to ``j + 3`` into its ``row`` of ``out``."""
    row[j] += s0
    row[j + 1] += s1
    row[j + 2] += s2
    row[j + 3] += s3


@njit(inline="always")
def _store2(row, j, s0, s1):  # type: ignore[no-untyped-def]
    """:func:`_store4` for two masks."""
    row[j] += s0
    row[j + 1] += s1


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
                        m = (weights[w0 + k], weights[w1 + k], weights[w2 + k], weights[w3 + k])
                        s00, s01, s02, s03 = _add4(data[r0 + k], m, s00, s01, s02, s03)
                        s10, s11, s12, s13 = _add4(data[r1 + k], m, s10, s11, s12, s13)
                        s20, s21, s22, s23 = _add4(data[r2 + k], m, s20, s21, s22, s23)
                        s30, s31, s32, s33 = _add4(data[r3 + k], m, s30, s31, s32, s33)
                        s40, s41, s42, s43 = _add4(data[r4 + k], m, s40, s41, s42, s43)
                        s50, s51, s52, s53 = _add4(data[r5 + k], m, s50, s51, s52, s53)
                    _store4(out[f], j, s00, s01, s02, s03)
                    _store4(out[f + 1], j, s10, s11, s12, s13)
                    _store4(out[f + 2], j, s20, s21, s22, s23)
                    _store4(out[f + 3], j, s30, s31, s32, s33)
                    _store4(out[f + 4], j, s40, s41, s42, s43)
                    _store4(out[f + 5], j, s50, s51, s52, s53)


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
                        m = (weights[w0 + k], weights[w1 + k])
                        s00, s01 = _add2(data[r0 + k], m, s00, s01)
                        s10, s11 = _add2(data[r1 + k], m, s10, s11)
                        s20, s21 = _add2(data[r2 + k], m, s20, s21)
                        s30, s31 = _add2(data[r3 + k], m, s30, s31)
                        s40, s41 = _add2(data[r4 + k], m, s40, s41)
                        s50, s51 = _add2(data[r5 + k], m, s50, s51)
                    _store2(out[f], j, s00, s01)
                    _store2(out[f + 1], j, s10, s11)
                    _store2(out[f + 2], j, s20, s21)
                    _store2(out[f + 3], j, s30, s31)
                    _store2(out[f + 4], j, s40, s41)
                    _store2(out[f + 5], j, s50, s51)


#: The loop for each number of masks per block.
PRODUCTS = {4: product_6x4, 2: product_6x2}
#: Masks per block on this host (numba compiles for ``NUMBA_CPU_FEATURES`` when it is set).
MASKS = masks_per_block(
    getattr(config, "CPU_FEATURES", None) or binding.get_host_cpu_features().flatten()
)
