"""The mask product for many masks: sixteen masks in the lanes of one value per frame.

``out[f, j] += sum_k data[f, k] * weights[j, k]`` as a sum of outer products: for each pixel,
each frame's pixel (converted to float32, in every lane) times the sixteen masks' pixels, added
into that frame's sixteen running sums (:mod:`apps.core.lanes_jit`). A frame's pixel is read
once for all sixteen masks and the sums never need adding across lanes, where the loops of
:mod:`apps.core.masks_jit` (a frame's pixels times one mask's, in lanes) read each frame's
pixels once per group of masks and add their lanes across at the end of every span. For 16
masks one thread of the AVX-512 host measured 93-102 GFLOP/s against their 49
(docs/performance.md).

The masks come as chunks of sixteen, pixel after pixel: chunk ``c``'s sixteen values of pixel
``k`` at ``weights[(c * width + k) * 16 :][:16]``; ``out`` is flat float64, frame ``f``'s sums
at ``out[f * chunks * 16 :][: chunks * 16]``. How many frames fit in registers depends on the
host: eight with AVX-512 (32 registers: eight sums, the masks' pixels, room for addresses),
six with AVX2 (16 registers; each value takes two: twelve for the sums, two for the masks).
Eight on AVX2 spills and measured at 55 GFLOP/s against six's 93.

Sums are float32 over a block of :data:`PIXELS` pixels, then added into the float64 ``out``.

A block of frames reads one run of :data:`PIXELS` pixels (4 KiB of float32, one page) of each
of its frames, which lie a frame apart: the hardware prefetchers, which follow a stream within
a page, barely start on a run before it ends. So while the first chunk of masks passes over a
block's runs, the loop prefetches the next block's runs into L2, a cache line of each frame
per :data:`LINE` pixels; over the 4 GiB float32 map that took a tenth off the CPU time
(docs/performance.md).
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding
from numba import config, njit, uint64

from apps.core.lanes_jit import WIDTH, add_into, load, multiply_add, prefetch, zeros

#: Pixels per block of float32 sums (and of the masks' pixels, 64 KiB, in L2).
PIXELS = 1024
#: Pixels per prefetched cache line (64 bytes of float32).
LINE = 16
#: Pixels per run of the six-frame loop between its prefetches (four lines of each frame):
#: runs of one line left the loop a branch and six addresses to reload every sixteen pixels,
#: which cost the AVX2 host a tenth (docs/performance.md).
RUN = 4 * LINE


def frames_per_block(cpu_features: str) -> int:
    """Frames per block of running sums for LLVM's CPU features (``"+avx2,-avx512f,..."``):
    8 with AVX-512's 32 vector registers, else 6."""
    return 8 if "+avx512f" in cpu_features.split(",") else 6


def min_masks(frames: int) -> int:
    """Masks from which these loops beat :mod:`apps.core.masks_jit`'s on a host whose block
    has ``frames`` frames: 8 with AVX-512 (against six by four masks), 12 with AVX2 (against
    six by two, which is faster below ten masks: docs/performance.md)."""
    return 8 if frames == 8 else 12


@njit(nogil=True, cache=True, boundscheck=False)
def product_8x16(data, stride, frames, width, weights, chunks, out):  # type: ignore[no-untyped-def]
    """Adds ``data . weights.T`` into ``out`` for blocks of eight frames.

    ``data``: flat, frame ``f`` at ``data[f * stride : f * stride + width]``; ``frames`` a
    multiple of 8 (the caller pads); ``weights`` and ``out`` as the module says. While the
    first chunk passes over a block of frames, the next block's pixels are prefetched.
    """
    row = uint64(chunks * WIDTH)
    step = uint64(stride)
    for b0 in range(0, width, PIXELS):
        n = min(width, b0 + PIXELS) - b0
        for f in range(0, frames, 8):
            r0 = uint64(f * stride + b0)
            r1 = r0 + step
            r2 = r1 + step
            r3 = r2 + step
            r4 = r3 + step
            r5 = r4 + step
            r6 = r5 + step
            r7 = r6 + step
            more = f + 16 <= frames  # a next block of frames to prefetch
            for c in range(chunks):
                w = uint64((c * width + b0) * WIDTH)
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zeros()
                for i0 in range(0, n, LINE):
                    if more and c == 0:
                        q = uint64(i0) + uint64(8) * step
                        prefetch(data, r0 + q)
                        prefetch(data, r1 + q)
                        prefetch(data, r2 + q)
                        prefetch(data, r3 + q)
                        prefetch(data, r4 + q)
                        prefetch(data, r5 + q)
                        prefetch(data, r6 + q)
                        prefetch(data, r7 + q)
                    for i in range(i0, min(n, i0 + LINE)):
                        k = uint64(i)
                        m = load(weights, w + uint64(WIDTH) * k)
                        s0 = multiply_add(np.float32(data[r0 + k]), m, s0)
                        s1 = multiply_add(np.float32(data[r1 + k]), m, s1)
                        s2 = multiply_add(np.float32(data[r2 + k]), m, s2)
                        s3 = multiply_add(np.float32(data[r3 + k]), m, s3)
                        s4 = multiply_add(np.float32(data[r4 + k]), m, s4)
                        s5 = multiply_add(np.float32(data[r5 + k]), m, s5)
                        s6 = multiply_add(np.float32(data[r6 + k]), m, s6)
                        s7 = multiply_add(np.float32(data[r7 + k]), m, s7)
                o = uint64(f) * row + uint64(c * WIDTH)
                add_into(out, o, s0)
                add_into(out, o + uint64(1) * row, s1)
                add_into(out, o + uint64(2) * row, s2)
                add_into(out, o + uint64(3) * row, s3)
                add_into(out, o + uint64(4) * row, s4)
                add_into(out, o + uint64(5) * row, s5)
                add_into(out, o + uint64(6) * row, s6)
                add_into(out, o + uint64(7) * row, s7)


@njit(nogil=True, cache=True, boundscheck=False)
def product_6x16(data, stride, frames, width, weights, chunks, out):  # type: ignore[no-untyped-def]
    """:func:`product_8x16` for blocks of six frames (hosts with 16 vector registers)."""
    row = uint64(chunks * WIDTH)
    step = uint64(stride)
    for b0 in range(0, width, PIXELS):
        n = min(width, b0 + PIXELS) - b0
        for f in range(0, frames, 6):
            r0 = uint64(f * stride + b0)
            r1 = r0 + step
            r2 = r1 + step
            r3 = r2 + step
            r4 = r3 + step
            r5 = r4 + step
            more = f + 12 <= frames  # a next block of frames to prefetch
            for c in range(chunks):
                w = uint64((c * width + b0) * WIDTH)
                s0 = s1 = s2 = s3 = s4 = s5 = zeros()
                for i0 in range(0, n, RUN):
                    if more and c == 0:
                        ahead = uint64(i0) + uint64(6) * step
                        for q in range(ahead, ahead + uint64(RUN), uint64(LINE)):
                            prefetch(data, r0 + q)
                            prefetch(data, r1 + q)
                            prefetch(data, r2 + q)
                            prefetch(data, r3 + q)
                            prefetch(data, r4 + q)
                            prefetch(data, r5 + q)
                    for i in range(i0, min(n, i0 + RUN)):
                        k = uint64(i)
                        m = load(weights, w + uint64(WIDTH) * k)
                        s0 = multiply_add(np.float32(data[r0 + k]), m, s0)
                        s1 = multiply_add(np.float32(data[r1 + k]), m, s1)
                        s2 = multiply_add(np.float32(data[r2 + k]), m, s2)
                        s3 = multiply_add(np.float32(data[r3 + k]), m, s3)
                        s4 = multiply_add(np.float32(data[r4 + k]), m, s4)
                        s5 = multiply_add(np.float32(data[r5 + k]), m, s5)
                o = uint64(f) * row + uint64(c * WIDTH)
                add_into(out, o, s0)
                add_into(out, o + uint64(1) * row, s1)
                add_into(out, o + uint64(2) * row, s2)
                add_into(out, o + uint64(3) * row, s3)
                add_into(out, o + uint64(4) * row, s4)
                add_into(out, o + uint64(5) * row, s5)


#: The loop for each number of frames per block.
PRODUCTS = {8: product_8x16, 6: product_6x16}
#: Frames per block on this host (numba compiles for ``NUMBA_CPU_FEATURES`` when it is set).
FRAMES = frames_per_block(
    getattr(config, "CPU_FEATURES", None) or binding.get_host_cpu_features().flatten()
)
#: Masks from which :class:`apps.core.kernels.MaskProduct` takes these loops on this host.
MIN_MASKS = min_masks(FRAMES)
