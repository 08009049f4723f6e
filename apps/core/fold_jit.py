"""The numba-compiled loop behind :func:`apps.core.kernels.fold_frames` (imported on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit

# No reassociation: the additions keep the order written, so numpy's twin of this loop
# (apps.core.fold_numpy) gives the same bits; it measured as fast as with reassociation (the
# loop vectorises across pixels either way). NaN and infinity keep their IEEE meaning.
_FAST = {"nsz", "arcp"}


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def _flush(total, acc):  # type: ignore[no-untyped-def]
    for j in range(acc.shape[0]):
        total[j] += acc[j]
        acc[j] = 0.0


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def fold(tile, total, peak, acc, flush_every):  # type: ignore[no-untyped-def]
    """Sums of ``tile`` (k, c) into ``total`` (float64), maxima into ``peak``; four frames at a
    time, the float32 partial sums in ``acc`` flushed every ``flush_every`` frames.

    ``peak`` None: the sums only. numba compiles that call apart and drops the branches on
    ``peak`` (its dead-branch pruning of arguments that are None): a loop with a fifth fewer
    instructions per pixel, and the same sums, bit for bit.
    """
    k, c = tile.shape
    i = 0
    pending = 0
    while i < k:
        if i + 4 <= k:
            r0, r1, r2, r3 = tile[i], tile[i + 1], tile[i + 2], tile[i + 3]
            for j in range(c):
                acc[j] += (np.float32(r0[j]) + np.float32(r1[j])) + (
                    np.float32(r2[j]) + np.float32(r3[j])
                )
                if peak is not None:
                    m01 = r0[j] if r0[j] > r1[j] else r1[j]
                    m23 = r2[j] if r2[j] > r3[j] else r3[j]
                    m = m01 if m01 > m23 else m23
                    if m > peak[j]:
                        peak[j] = m
            step = 4
        else:
            r0 = tile[i]
            for j in range(c):
                acc[j] += np.float32(r0[j])
                if peak is not None and r0[j] > peak[j]:
                    peak[j] = r0[j]
            step = 1
        i += step
        pending += step
        if pending + 4 > flush_every:
            _flush(total, acc)
            pending = 0
    _flush(total, acc)
