"""The mask product of CSR events for many masks: sixteen masks' sums in the lanes of one value.

The weights come in chunks of sixteen masks (zero-padded), pixel after pixel: chunk ``h``'s
weights of span pixel ``p`` at ``weights[(p * chunks + h) * 16 :][:16]`` (:func:`lane_weights`).
An event is one load of its pixel's sixteen weights (one 64-byte line for float32), widened
to float64, and one multiply-add into the frame's sixteen float64 sums in registers
(:mod:`apps.core.lanes_jit`), where the loop before read a row of ``m`` weights and added
into ``m`` sums in memory one at a time (16 masks at 0.1 electrons per pixel: 4.6 -> 2.4 ns
of CPU per event, docs/performance.md). Four frames are summed side by side, event by event
of each in turn: four chains of additions the core overlaps. Each frame's sums are taken in
its events' order and each product and sum rounded as a scalar loop rounds them (fused
only where the products are exact: :func:`fuses`): the bits do not change.

Frames are surveyed first (:func:`apps.core.csr_jit.survey`): where the pixels of four
frames do not fall, only their runs of events in the span are read, without checks; other
frames are taken one by one, those whose pixels fall with every event checked.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from apps.core.csr_jit import survey
from apps.core.lanes_jit import (
    WIDTH,
    wide_fused_add,
    wide_load,
    wide_multiply_add,
    wide_store,
    wide_zeros,
)

#: Bytes the weights are aligned to: a pixel's sixteen float32 weights are one cache line.
ALIGN = 64


def lane_weights(matrix: np.ndarray) -> np.ndarray:
    """The span's weights ``(w, m)`` flat in chunks of sixteen masks, pixel after pixel,
    zero-padded to whole chunks, in ``matrix``'s dtype, the first aligned to :data:`ALIGN`."""
    w, m = matrix.shape
    chunks = -(-m // WIDTH)
    size = w * chunks * WIDTH
    raw = np.zeros(size + ALIGN // matrix.itemsize, matrix.dtype)
    skip = (-raw.ctypes.data % ALIGN) // matrix.itemsize
    flat = raw[skip : skip + size]
    flat.reshape(w, chunks * WIDTH)[:, :m] = matrix
    return flat


@njit(nogil=True, cache=True, boundscheck=False)
def _madd(x, m, s, fused):  # type: ignore[no-untyped-def]
    if fused:
        return wide_fused_add(x, m, s)
    return wide_multiply_add(x, m, s)


@njit(nogil=True, cache=True, boundscheck=False)
def _run(indices, values, a, b, weights, lo, step, base, fused, s):  # type: ignore[no-untyped-def]
    """``s`` plus the events ``[a, b)`` (all in the span) times one chunk's weights."""
    for j in range(a, b):
        p = uint64(np.int64(indices[j]) - lo)
        s = _madd(np.float64(values[j]), wide_load(weights, p * step + base), s, fused)
    return s


@njit(nogil=True, cache=True, boundscheck=False)
def _runs4(indices, values, starts, n, weights, lo, step, base, fused):  # type: ignore[no-untyped-def]
    """The sums of the first ``n`` events of four runs starting at ``starts``, event by
    event of each in turn: four chains of additions the core overlaps, each in its run's
    order."""
    if fused:
        return _runs4_with(indices, values, starts, n, weights, lo, step, base, _fused)
    return _runs4_with(indices, values, starts, n, weights, lo, step, base, _unfused)


@njit(nogil=True, cache=True, boundscheck=False)
def _fused(x, m, s):  # type: ignore[no-untyped-def]
    return wide_fused_add(x, m, s)


@njit(nogil=True, cache=True, boundscheck=False)
def _unfused(x, m, s):  # type: ignore[no-untyped-def]
    return wide_multiply_add(x, m, s)


@njit(nogil=True, cache=True, boundscheck=False)
def _runs4_with(indices, values, starts, n, weights, lo, step, base, madd):  # type: ignore[no-untyped-def]
    """:func:`_runs4` with the multiply-add given as a function, so each kind is compiled
    into a loop of its own (a test of ``fused`` per event cost a branch and kept the loop's
    values out of registers); the positions unsigned (no wraparound of negative indices):
    16 masks at 0.1 e/px 3.9 -> 3.6 ns of CPU per event."""
    s0 = s1 = s2 = s3 = wide_zeros()
    a0, a1, a2, a3 = uint64(starts[0]), uint64(starts[1]), uint64(starts[2]), uint64(starts[3])
    for j in range(uint64(n)):
        p0 = uint64(np.int64(indices[a0 + j]) - lo)
        p1 = uint64(np.int64(indices[a1 + j]) - lo)
        p2 = uint64(np.int64(indices[a2 + j]) - lo)
        p3 = uint64(np.int64(indices[a3 + j]) - lo)
        s0 = madd(np.float64(values[a0 + j]), wide_load(weights, p0 * step + base), s0)
        s1 = madd(np.float64(values[a1 + j]), wide_load(weights, p1 * step + base), s1)
        s2 = madd(np.float64(values[a2 + j]), wide_load(weights, p2 * step + base), s2)
        s3 = madd(np.float64(values[a3 + j]), wide_load(weights, p3 * step + base), s3)
    return s0, s1, s2, s3


@njit(nogil=True, cache=True, boundscheck=False)
def _four(indices, values, starts, ends, weights, lo, chunks, fused, sums):  # type: ignore[no-untyped-def]
    """Four frames' runs (``[starts[f], ends[f])``) into ``sums[f * chunks * 16 :]``."""
    n = min(ends[0] - starts[0], ends[1] - starts[1], ends[2] - starts[2], ends[3] - starts[3])
    step = uint64(chunks * WIDTH)
    for h in range(chunks):
        base = uint64(h * WIDTH)
        four = _runs4(indices, values, starts, n, weights, lo, step, base, fused)
        for f in range(4):
            a, b = starts[f] + n, ends[f]
            s = _run(indices, values, a, b, weights, lo, step, base, fused, four[f])
            wide_store(sums, uint64((f * chunks + h) * WIDTH), s)


@njit(nogil=True, cache=True, boundscheck=False)
def _checked(indices, values, weights, lo, w, chunks, fused, sums):  # type: ignore[no-untyped-def]
    """One frame's sums into ``sums[: chunks * 16]``, any events: those outside the span
    ``[0, w)`` add nothing. Returns the number outside the frame ``[0, c)``."""
    step = uint64(chunks * WIDTH)
    for h in range(chunks):
        s = wide_zeros()
        for j in range(indices.shape[0]):
            p = np.int64(indices[j]) - lo
            if p < 0 or p >= w:
                continue
            m = wide_load(weights, uint64(p) * step + uint64(h * WIDTH))
            s = _madd(np.float64(values[j]), m, s, fused)
        wide_store(sums, uint64(h * WIDTH), s)


@njit(nogil=True, cache=True, boundscheck=False)
def _outside(indices, c):  # type: ignore[no-untyped-def]
    bad = 0
    for j in range(indices.shape[0]):
        p = np.int64(indices[j])
        bad += np.int64(p < 0 or p >= c)
    return bad


def product(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    weights: np.ndarray,
    lo: int,
    c: int,
    out: np.ndarray,
) -> int:
    """``out[r, q] = sum_j values[j] * B[indices[j] - lo, q]`` over the events of frame ``r``
    of ``c`` pixels, ``B`` ``(w, m)`` the masks over pixels ``[lo, lo + w)`` given as
    :func:`lane_weights` (``m = out.shape[1]``); events outside the span add nothing. Sums
    in float64, stored in ``out``'s dtype. Returns the number of events outside the frame."""
    fused = fuses(weights.dtype, values.dtype)
    return int(_product(indptr, indices, values, weights, fused, lo, c, out))


@njit(nogil=True, cache=True, boundscheck=False)
def _product(indptr, indices, values, weights, fused, lo, c, out):  # type: ignore[no-untyped-def]
    """:func:`product`, ``fused``: every product is exact (:func:`fuses`), so one rounding
    per event gives the same sums. Four frames at a time where their pixels do not fall.
    """
    k = indptr.shape[0] - 1
    m = out.shape[1]
    chunks = (m + WIDTH - 1) // WIDTH
    w = weights.shape[0] // (chunks * WIDTH)
    sums = np.zeros(4 * chunks * WIDTH, np.float64)
    starts = np.zeros(4, np.int64)
    ends = np.zeros(4, np.int64)
    bad = 0
    for r0 in range(0, k, 4):
        group = min(4, k - r0)
        rising = group == 4
        outside = 0
        for f in range(group):
            a, b = indptr[r0 + f], indptr[r0 + f + 1]
            survey_f = survey(indices[a:b], lo, lo + w, c)
            rising = rising and survey_f[0] == 0
            starts[f], ends[f] = a + survey_f[1], a + survey_f[1] + survey_f[2]
            outside += survey_f[3]
        if rising:
            _four(indices, values, starts, ends, weights, lo, chunks, fused, sums)
            bad += outside
        else:
            bad += _one_by_one(
                indptr[r0 : r0 + group + 1], indices, values, weights, lo, c, fused, sums
            )
        for f in range(group):
            for q in range(m):
                out[r0 + f, q] = sums[f * chunks * WIDTH + q]
    return bad


@njit(nogil=True, cache=True, boundscheck=False)
def _one_by_one(indptr, indices, values, weights, lo, c, fused, sums):  # type: ignore[no-untyped-def]
    """Frames ``indptr`` (at most four) one by one into ``sums``: the span's run where a
    frame's pixels do not fall, else every event checked. Returns the events outside the frame."""
    chunks = sums.shape[0] // (4 * WIDTH)
    w = weights.shape[0] // (chunks * WIDTH)
    step = uint64(chunks * WIDTH)
    bad = 0
    for f in range(indptr.shape[0] - 1):
        a, b = indptr[f], indptr[f + 1]
        part = sums[f * chunks * WIDTH :]
        falls, below, within, outside = survey(indices[a:b], lo, lo + w, c)
        if falls:
            _checked(indices[a:b], values[a:b], weights, lo, w, chunks, fused, part)
            bad += _outside(indices[a:b], c)
            continue
        for h in range(chunks):
            base = uint64(h * WIDTH)
            s = _run(
                indices,
                values,
                a + below,
                a + below + within,
                weights,
                lo,
                step,
                base,
                fused,
                wide_zeros(),
            )
            wide_store(part, base, s)
        bad += outside
    return bad


def fuses(weights: np.dtype, values: np.dtype) -> bool:
    """Whether every product of a weight and a count is exact in float64: float32 weights
    (24-bit significands) times float32 or integers of at most 16 bits (they then fit 53
    bits), so a fused multiply-add rounds as the separate multiply and add do."""
    small = values.kind in "iu" and values.itemsize <= 2
    return weights == np.float32 and (small or values == np.float32)
