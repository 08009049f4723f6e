"""The numba-compiled loop behind :func:`apps.core.moments.fold_tile` (imported on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the float sums; NaN and infinity keep their IEEE meaning.
_FAST = {"nsz", "arcp", "contract", "reassoc"}
#: Pixels per block: a block of a tile's frames stays in the cache between the two passes.
BLOCK = 256


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def _block_shifted_sums(tile, b, w, shift, s1, s2):  # type: ignore[no-untyped-def]
    """``s1[:w]``, ``s2[:w]`` = the sums of ``x - shift`` and of ``(x - shift)^2`` over the
    frames, for pixels ``[b, b + w)``: one pass over the data, two frames at a time."""
    k = tile.shape[0]
    s1[:w] = 0.0
    s2[:w] = 0.0
    k2 = k // 2 * 2
    for i in range(0, k2, 2):
        r0, r1 = tile[i, b : b + w], tile[i + 1, b : b + w]
        for j in range(w):
            d0 = np.float64(r0[j]) - shift[j]
            d1 = np.float64(r1[j]) - shift[j]
            s1[j] += d0 + d1
            s2[j] += d0 * d0 + d1 * d1
    for i in range(k2, k):
        r0 = tile[i, b : b + w]
        for j in range(w):
            d0 = np.float64(r0[j]) - shift[j]
            s1[j] += d0
            s2[j] += d0 * d0


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def fold_columns(tile, lo, hi, n0, mean, m2):  # type: ignore[no-untyped-def]
    """Fold the ``k`` frames of ``tile`` (k, c), pixels ``[lo, hi)``, into the running ``mean``
    and ``m2`` (float64, (c,)) of ``n0`` frames.

    Per block of pixels, one pass: the sums of the deviations from a shift and of their
    squares, the shift being the running mean (or, for the first tile, the first frame), so
    the deviations are of the order of the spread and their squares lose no digits
    (the shifted-data algorithm); then the tile's mean and ``m2`` and the pairwise update of
    Chan et al. Rows are taken as contiguous slices, which LLVM vectorises.
    """
    k = tile.shape[0]
    n = n0 + k
    shift = np.empty(BLOCK)
    s1 = np.empty(BLOCK)
    s2 = np.empty(BLOCK)
    for b in range(lo, hi, BLOCK):
        w = min(BLOCK, hi - b)
        if n0 == 0:
            for j in range(w):
                shift[j] = np.float64(tile[0, b + j])
        else:
            shift[:w] = mean[b : b + w]
        _block_shifted_sums(tile, b, w, shift, s1, s2)
        for j in range(w):
            tile_offset = s1[j] / k  # the tile's mean minus the shift
            tile_m2 = max(s2[j] - s1[j] * tile_offset, 0.0)
            if n0 == 0:
                mean[b + j] = shift[j] + tile_offset
                m2[b + j] = tile_m2
            else:
                # The shift is the running mean: the update's delta is the tile's offset.
                mean[b + j] += tile_offset * k / n
                m2[b + j] += tile_m2 + tile_offset * tile_offset * (n0 * k / n)
