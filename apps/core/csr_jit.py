"""numba loops over electron-counted frames stored as CSR rows (imported on first use).

A block of ``k`` frames is ``indptr`` (``k + 1`` int64, from 0), ``indices`` (the pixel of
each event, flat in the frame) and ``values`` (its count). Every loop walks the events once:
its cost follows the number of events, not the frame size. Each returns the number of
events whose pixel lies outside ``[0, c)`` (those are skipped): the caller turns a non-zero
count into an error naming the file, the loops never touch memory outside their arrays.

The mask products first survey each frame (:func:`survey`: one vectorised pass, then binary
searches): where its pixels do not fall (canonical CSR, as detectors write it) the events of
the masks' span are one run, and only that run is multiplied, in a loop without checks
(:func:`_dot_row` and the like); other frames take the checked loop over all their events.
The sums add the same events in the same order either way: the bits do not change. A ring at
0.1 electrons per pixel: 1.40 -> 0.83 ns of CPU per event, ``com`` 1.98 -> 1.20
(docs/performance.md). Where counts and weights are whole numbers (disks, rings, ``com``
about a whole pixel) and no sum can reach 2**53, the run is summed in int64 (:func:`_whole_row`),
which gives the same numbers (ring 0.83 -> 0.55 ns per event). One such mask over frames of
up to 2**18 pixels is a table over the whole frame instead (:func:`product_table`): one pass
that streams the events and prefetches those ahead, no survey, summed in int32 where no
frame's sum can reach 2**31 (ring at 0.1 e/px: 1.63 -> 2.3 G events/s on two threads).
The per-frame passes are functions over a frame's slices: numba's loops
with bounds read from ``indptr`` inside a loop over frames are not vectorised (1.1 ns per
event for a count, 0.16 ns as a function over a slice).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from apps.core.lanes_jit import prefetch


@njit(nogil=True, cache=True, boundscheck=False)
def _falls(indices):  # type: ignore[no-untyped-def]
    """How many of one frame's ``indices`` lie below the one before them (a branch-free
    pass that LLVM vectorises)."""
    falls = 0
    for j in range(1, indices.shape[0]):
        falls += np.int64(np.int64(indices[j]) < np.int64(indices[j - 1]))
    return falls


@njit(nogil=True, cache=True, boundscheck=False)
def _below(indices, value):  # type: ignore[no-untyped-def]
    """How many of ``indices`` lie below ``value``, where they do not fall (binary search)."""
    a = 0
    b = indices.shape[0]
    while a < b:
        mid = (a + b) >> 1
        if np.int64(indices[mid]) < value:
            a = mid + 1
        else:
            b = mid
    return a


@njit(nogil=True, cache=True, boundscheck=False)
def survey(indices, lo, hi, c):  # type: ignore[no-untyped-def]
    """``(falls, below, within, bad)`` of one frame's ``indices``: how many fall below the
    one before them and, where none does (else only ``falls`` holds), how many lie below
    ``lo``, in ``[lo, hi)`` and outside the frame ``[0, c)``: the events in ``[lo, hi)`` are
    then ``indices[below : below + within]``.

    One vectorised pass and four binary searches in the frame it brought into L1: 0.13 ns per
    event, where counting the four in that pass cost 0.42."""
    falls = _falls(indices)
    below = _below(indices, lo)
    within = _below(indices, hi) - below
    bad = _below(indices, 0) + indices.shape[0] - _below(indices, c)
    return falls, below, within, bad


@njit(nogil=True, cache=True, boundscheck=False)
def _dot_row(indices, values, row, lo):  # type: ignore[no-untyped-def]
    """``sum_j values[j] * row[indices[j] - lo]`` in float64; every index in the row's span."""
    acc = 0.0
    for j in range(indices.shape[0]):
        acc += np.float64(values[j]) * row[np.int64(indices[j]) - lo]
    return acc


@njit(nogil=True, cache=True, boundscheck=False)
def _dot3(indices, values, weights, lo):  # type: ignore[no-untyped-def]
    """:func:`_dot_row` for the three columns of ``weights`` ``(w, 3)`` at once."""
    a0 = a1 = a2 = 0.0
    for j in range(indices.shape[0]):
        p = np.int64(indices[j]) - lo
        v = np.float64(values[j])
        a0 += v * weights[p, 0]
        a1 += v * weights[p, 1]
        a2 += v * weights[p, 2]
    return a0, a1, a2, 0.0


@njit(nogil=True, cache=True, boundscheck=False)
def _dot4(indices, values, weights, lo):  # type: ignore[no-untyped-def]
    """:func:`_dot_row` for the four columns of ``weights`` ``(w, 4)`` at once."""
    a0 = a1 = a2 = a3 = 0.0
    for j in range(indices.shape[0]):
        p = np.int64(indices[j]) - lo
        v = np.float64(values[j])
        a0 += v * weights[p, 0]
        a1 += v * weights[p, 1]
        a2 += v * weights[p, 2]
        a3 += v * weights[p, 3]
    return a0, a1, a2, a3


@njit(nogil=True, cache=True, boundscheck=False)
def _whole_row(indices, values, row, lo):  # type: ignore[no-untyped-def]
    """:func:`_dot_row` for integer counts and integer weights, summed in int64: no float
    conversions and a one-cycle add between events (0.83 -> 0.5 ns per event for a ring).
    The caller makes sure every sum stays below 2**53, where the float64 sums are exact too,
    so both give the same number."""
    acc = 0
    for j in range(indices.shape[0]):
        acc += np.int64(values[j]) * np.int64(row[np.uint64(np.int64(indices[j]) - lo)])
    return acc


@njit(nogil=True, cache=True, boundscheck=False)
def _whole3(indices, values, weights, lo):  # type: ignore[no-untyped-def]
    """:func:`_whole_row` for the three columns of ``weights`` ``(w, 3)`` at once."""
    a0 = a1 = a2 = 0
    for j in range(indices.shape[0]):
        p = np.uint64(np.int64(indices[j]) - lo)
        v = np.int64(values[j])
        a0 += v * np.int64(weights[p, 0])
        a1 += v * np.int64(weights[p, 1])
        a2 += v * np.int64(weights[p, 2])
    return a0, a1, a2, 0


@njit(nogil=True, cache=True, boundscheck=False)
def _whole4(indices, values, weights, lo):  # type: ignore[no-untyped-def]
    """:func:`_whole_row` for the four columns of ``weights`` ``(w, 4)`` at once."""
    a0 = a1 = a2 = a3 = 0
    for j in range(indices.shape[0]):
        p = np.uint64(np.int64(indices[j]) - lo)
        v = np.int64(values[j])
        a0 += v * np.int64(weights[p, 0])
        a1 += v * np.int64(weights[p, 1])
        a2 += v * np.int64(weights[p, 2])
        a3 += v * np.int64(weights[p, 3])
    return a0, a1, a2, a3


@njit(nogil=True, cache=True, boundscheck=False)
def product_few(indptr, indices, values, masks, whole, lo, c, out):  # type: ignore[no-untyped-def]
    """``out[r, q] = sum_j values[j] * masks[q, indices[j] - lo]`` over the events of frame
    ``r`` of ``c`` pixels, for a few masks given as rows ``(m, w)`` over pixels ``[lo, lo + w)``
    (the masks' span; events elsewhere add nothing), summed in float64 and stored in
    ``out``'s dtype; returns the events outside the frame. One pass over a frame's
    events per mask (they stay in L1), each summing into one register. ``whole``: the masks
    as integers (``(m, w)``) where the sums may be taken in int64 (:func:`_whole_row`), else
    ``(0, w)``."""
    k = indptr.shape[0] - 1
    m, w = masks.shape
    bad = 0
    for r in range(k):
        a, b = indptr[r], indptr[r + 1]
        falls, below, within, outside = survey(indices[a:b], lo, lo + w, c)
        if falls == 0:
            s, e = a + below, a + below + within
            for q in range(m):
                if whole.shape[0]:
                    out[r, q] = _whole_row(indices[s:e], values[s:e], whole[q], lo)
                else:
                    out[r, q] = _dot_row(indices[s:e], values[s:e], masks[q], lo)
            bad += outside
            continue
        for q in range(m):
            row = masks[q]
            acc = 0.0
            for j in range(a, b):
                p = np.int64(indices[j]) - lo
                if p < 0 or p >= w:
                    if q == 0 and (p + lo < 0 or p + lo >= c):
                        bad += 1
                    continue
                acc += np.float64(values[j]) * row[p]
            out[r, q] = acc
    return bad


#: Events a chunk of :func:`_whole_frame`'s loop, and how far ahead of it the loop asks for
#: the events it reads next (64 KiB of int32 indices: this machine's prefetchers alone
#: leave the loop waiting for memory, docs/performance.md).
CHUNK = 128
AHEAD = 16384


@njit(nogil=True, cache=True, boundscheck=False)
def _ask_ahead(indices, values, j):  # type: ignore[no-untyped-def]
    """Prefetch the cache lines of the chunk of events :data:`AHEAD` after event ``j`` (past
    the frame's end: the next frames', which follow it in memory)."""
    for q in range(0, CHUNK, 64 // indices.itemsize):
        prefetch(indices, j + AHEAD + q)
    for q in range(0, CHUNK, 64 // values.itemsize):
        prefetch(values, j + AHEAD + q)


@njit(nogil=True, cache=True, boundscheck=False)
def _whole_frame(indices, values, table, c):  # type: ignore[no-untyped-def]
    """``(sum_j values[j] * table[indices[j]], the largest index as unsigned)`` of one frame's
    events, in int64; an index outside the frame ``[0, c)`` reads ``table[c]`` (zero)."""
    acc = 0
    largest = np.uint32(0)
    cu = np.uint32(c)
    n = indices.shape[0]
    chunks = n // CHUNK
    for k in range(chunks):  # whole chunks: a loop of known length, vectorised
        j0 = k * CHUNK
        _ask_ahead(indices, values, j0)
        for j in range(j0, j0 + CHUNK):
            p = np.uint32(indices[j])
            largest = max(largest, p)
            acc += np.int64(values[j]) * np.int64(table[min(p, cu)])
    for j in range(chunks * CHUNK, n):
        p = np.uint32(indices[j])
        largest = max(largest, p)
        acc += np.int64(values[j]) * np.int64(table[min(p, cu)])
    return acc, largest


@njit(nogil=True, cache=True, boundscheck=False)
def _whole_frame32(indices, values, weights, c):  # type: ignore[no-untyped-def]
    """:func:`_whole_frame` in int32 throughout, for frames whose sum cannot reach 2**31 (the
    caller's bound): the loop then gathers eight weights an instruction, not four.
    ``weights``: the int32 table, or a mask of zeros and ones as uint32 bits (``bits[p >> 5]``
    holds pixel ``p`` at bit ``p & 31``, pixel ``c`` zero: 8 KiB for a 256 x 256 frame, which
    stays in L1 where the table's 256 KiB does not, docs/performance.md); :func:`_counted`."""
    acc = np.int32(0)
    largest = np.uint32(0)
    cu = np.uint32(c)
    n = indices.shape[0]
    chunks = n // CHUNK
    for k in range(chunks):
        j0 = k * CHUNK
        _ask_ahead(indices, values, j0)
        for j in range(j0, j0 + CHUNK):
            p = np.uint32(indices[j])
            largest = max(largest, p)
            acc = np.int32(acc + _counted(values[j], weights, min(p, cu)))
    for j in range(chunks * CHUNK, n):
        p = np.uint32(indices[j])
        largest = max(largest, p)
        acc = np.int32(acc + _counted(values[j], weights, min(p, cu)))
    return np.int64(acc), largest


def _counted(value, weights, q):  # type: ignore[no-untyped-def]
    """``value`` times pixel ``q``'s weight in int32, ``weights`` a table or bits (compiled
    by the overload below, for the type of ``weights``)."""
    raise NotImplementedError("compiled only")


@overload(_counted, inline="always")
def _counted_for(value, weights, q):  # type: ignore[no-untyped-def]
    if weights.dtype == types.uint32:  # bits

        def from_bits(value, weights, q):  # type: ignore[no-untyped-def]
            bit = (weights[q >> np.uint32(5)] >> (q & np.uint32(31))) & np.uint32(1)
            return np.int32(np.int32(value) * np.int32(bit))

        return from_bits

    def from_table(value, weights, q):  # type: ignore[no-untyped-def]
        # No index is above 2**30: a 32-bit gather's signed offsets suffice.
        return np.int32(np.int32(value) * weights[q & np.uint32(0x3FFFFFFF)])

    return from_table


@njit(nogil=True, cache=True, boundscheck=False)
def _outside(indices, c):  # type: ignore[no-untyped-def]
    """How many of ``indices`` lie outside ``[0, c)``."""
    bad = 0
    for j in range(indices.shape[0]):
        bad += np.int64(np.uint32(indices[j]) >= np.uint32(c))
    return bad


@njit(nogil=True, cache=True, boundscheck=False)
def _frames_with(indptr, indices, values, weights, c, out, frame):  # type: ignore[no-untyped-def]
    """``out[r, 0]`` = frame ``r``'s sum by ``frame`` (one of the whole-frame loops, passed
    as a function so each is compiled into a loop of its own); returns the events outside
    the frame, counted where a frame's largest index (unsigned: a negative one is larger) is
    outside."""
    k = indptr.shape[0] - 1
    bad = 0
    for r in range(k):
        a, b = indptr[r], indptr[r + 1]
        acc, largest = frame(indices[a:b], values[a:b], weights, c)
        out[r, 0] = acc
        if largest >= c:
            bad += _outside(indices[a:b], c)
    return bad


def product_table(indptr, indices, values, table, narrow, c, out):  # type: ignore[no-untyped-def]
    """:func:`product_few` for one mask of whole numbers given over the whole frame: ``table``
    ``(c + 1,)`` int32, zero outside the mask and at ``c``, integer counts. One pass over
    every event, no survey of the frame: the loop streams the events from memory as it
    multiplies them (the span's loop reads a frame twice, once from memory to survey it,
    once from L1 to multiply, and the two do not overlap). The sums are the integer ones of
    :func:`_whole_row` (the same numbers: the events outside the span add zero); returns
    the events outside the frame. ``narrow``: no frame's sum can reach 2**31, so it is
    summed in int32 (:func:`_whole_frame32`). A Python function: a compiled one that passes
    a compiled function on is not cached (numba), :func:`_frames_with` is."""
    frame = _whole_frame32 if narrow else _whole_frame
    return _frames_with(indptr, indices, values, table, c, out, frame)


def product_bits(indptr, indices, values, bits, c, out):  # type: ignore[no-untyped-def]
    """:func:`product_table` for a mask of zeros and ones (a disk, a ring) as bits over the
    frame, where no frame's sum can reach 2**31 (:func:`_whole_frame32` takes either)."""
    return _frames_with(indptr, indices, values, bits, c, out, _whole_frame32)


@njit(nogil=True, cache=True, boundscheck=False)
def _to_float(sums):  # type: ignore[no-untyped-def]
    return np.float64(sums[0]), np.float64(sums[1]), np.float64(sums[2]), np.float64(sums[3])


@njit(nogil=True, cache=True, boundscheck=False)
def product4(indptr, indices, values, weights, whole, lo, c, out):  # type: ignore[no-untyped-def]
    """:func:`product_few` for two to four masks, ``weights`` ``(w, 3)`` or ``(w, 4)``
    (zero-padded): one pass over the events, the sums in registers, one read of a row of
    weights per event (three columns for ``com``'s three masks: 1.55 -> 1.41 ns per event
    against four, the fourth all zeros). ``whole`` as for :func:`product_few`: ``weights``
    as integers, or ``(0, width)``."""
    k = indptr.shape[0] - 1
    w, width = weights.shape
    m = out.shape[1]
    bad = 0
    for r in range(k):
        a, b = indptr[r], indptr[r + 1]
        falls, below, within, outside = survey(indices[a:b], lo, lo + w, c)
        if falls == 0:
            s, e = a + below, a + below + within
            if whole.shape[0] and width == 3:
                sums = _to_float(_whole3(indices[s:e], values[s:e], whole, lo))
            elif whole.shape[0]:
                sums = _to_float(_whole4(indices[s:e], values[s:e], whole, lo))
            elif width == 3:
                sums = _dot3(indices[s:e], values[s:e], weights, lo)
            else:
                sums = _dot4(indices[s:e], values[s:e], weights, lo)
            bad += outside
        else:
            a0 = a1 = a2 = a3 = 0.0
            for j in range(a, b):
                p = np.int64(indices[j]) - lo
                if p < 0 or p >= w:
                    if p + lo < 0 or p + lo >= c:
                        bad += 1
                    continue
                v = np.float64(values[j])
                a0 += v * weights[p, 0]
                a1 += v * weights[p, 1]
                a2 += v * weights[p, 2]
                if width == 4:
                    a3 += v * weights[p, 3]
            sums = (a0, a1, a2, a3)
        for q in range(m):
            out[r, q] = sums[q]
    return bad


@njit(nogil=True, cache=True, boundscheck=False)
def rows_rise(indptr, indices):  # type: ignore[no-untyped-def]
    """Whether every row's pixels rise strictly (canonical CSR: one event per pixel and
    frame): the descents between neighbouring events are all at the starts of rows. One
    branch-free pass (vectorised), then one look per row."""
    n = indices.shape[0]
    descents = 0
    for j in range(1, n):
        descents += np.int64(indices[j] <= indices[j - 1])
    at_starts = 0
    last = 0
    for r in range(1, indptr.shape[0] - 1):
        j = indptr[r]
        if j != last and 0 < j < n:
            at_starts += np.int64(indices[j] <= indices[j - 1])
            last = j
    return descents == at_starts


@njit(nogil=True, cache=True, boundscheck=False)
def _add_run(indices, values, total):  # type: ignore[no-untyped-def]
    """``total[indices[j]] += values[j]``; every index in ``total``."""
    for j in range(indices.shape[0]):
        total[np.uint64(np.int64(indices[j]))] += values[j]


@njit(nogil=True, cache=True, boundscheck=False)
def sum_only(indptr, indices, values, total):  # type: ignore[no-untyped-def]
    """The sum without the maximum (``total``, ``c`` pixels): each frame surveyed
    (:func:`survey`), its events in the frame added without a check where its pixels do not
    fall, else each checked (a pixel twice in a frame just adds twice). Returns the number of
    events outside the frame (skipped). 1.02 -> 0.75 ns per event at 0.1 electrons per pixel
    against :func:`rows_rise` and :func:`fold_sorted` (docs/performance.md)."""
    c = total.shape[0]
    bad = 0
    for r in range(indptr.shape[0] - 1):
        a, b = indptr[r], indptr[r + 1]
        falls, below, within, outside = survey(indices[a:b], 0, c, c)
        if falls == 0:
            s = a + below
            _add_run(indices[s : s + within], values[s : s + within], total)
            bad += outside
            continue
        for j in range(a, b):
            p = np.int64(indices[j])
            if p < 0 or p >= c:
                bad += 1
                continue
            total[p] += values[j]
    return bad


@njit(nogil=True, cache=True, boundscheck=False)
def fold_sorted(indices, values, total, peak, seen, maximum, count_seen):  # type: ignore[no-untyped-def]
    """Sum (``total``), if ``maximum`` the maximum (``peak``) and if ``count_seen`` the frames
    touching each pixel (``seen``) of frames whose rows rise (:func:`rows_rise`): each event is its pixel's
    value in its frame. Returns the number of events outside the frame (skipped)."""
    c = total.shape[0]
    bad = 0
    for j in range(indices.shape[0]):
        p = np.int64(indices[j])
        if p < 0 or p >= c:
            bad += 1
            continue
        v = values[j]
        total[p] += v
        if maximum and v > peak[p]:
            peak[p] = v
        if count_seen:
            seen[p] += 1
    return bad


@njit(nogil=True, cache=True, boundscheck=False)
def fold(indptr, indices, values, first, total, peak, seen, stamp, frame):  # type: ignore[no-untyped-def]
    """:func:`fold_sorted` for any rows: a pixel may appear twice in a frame (its counts add
    up, as in the dense frame, in the values' dtype).

    ``frame`` (``c``, the values' dtype) holds the frame's value of the pixels touched,
    ``stamp[p]`` the number (``first + r``) of the last frame that touched pixel ``p``;
    ``seen[p]`` counts the frames that did (a pixel left out of some frame is 0 there, which
    the caller takes into the maximum).
    """
    k = indptr.shape[0] - 1
    c = total.shape[0]
    bad = 0
    for r in range(k):
        mark = first + r
        lo, hi = indptr[r], indptr[r + 1]
        for j in range(lo, hi):
            p = np.int64(indices[j])
            if p < 0 or p >= c:
                bad += 1
                continue
            v = values[j]
            total[p] += v
            if stamp[p] != mark:
                stamp[p] = mark
                seen[p] += 1
                frame[p] = v
            else:
                frame[p] += v
        for j in range(lo, hi):
            p = np.int64(indices[j])
            if p < 0 or p >= c:
                continue
            if frame[p] > peak[p]:
                peak[p] = frame[p]
    return bad


@njit(nogil=True, cache=True, boundscheck=False)
def scatter(indptr, indices, values, out):  # type: ignore[no-untyped-def]
    """The dense frames: ``out[r, indices[j]] += values[j]`` (``out`` zeroed, ``(k, c)``)."""
    k = indptr.shape[0] - 1
    c = out.shape[1]
    bad = 0
    for r in range(k):
        for j in range(indptr[r], indptr[r + 1]):
            p = np.int64(indices[j])
            if p < 0 or p >= c:
                bad += 1
                continue
            out[r, p] += values[j]
    return bad
