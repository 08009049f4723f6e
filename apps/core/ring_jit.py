"""The numba-compiled loop behind the ``fem`` analysis (imported on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the float sums; NaN and infinity keep their IEEE meaning.
_FAST = {"nsz", "arcp", "contract", "reassoc"}


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def ring_statistics(tile, lo, hi, pixels, starts, std, bin_sums):  # type: ignore[no-untyped-def]
    """For frames ``[lo, hi)`` of ``tile`` (k, c): ``bin_sums[i, b]``, the sum of the pixels
    ``pixels[starts[b]:starts[b + 1]]`` of frame ``i``, and ``std[i]``, the population standard
    deviation of all of ``pixels`` (two passes; the frame's ring stays in the cache)."""
    n = pixels.shape[0]
    n_bins = starts.shape[0] - 1
    for i in range(lo, hi):
        row = tile[i]
        total = 0.0
        for b in range(n_bins):
            s = 0.0
            for p in range(starts[b], starts[b + 1]):
                s += np.float64(row[pixels[p]])
            bin_sums[i, b] = s
            total += s
        mean = total / n
        q = 0.0
        for p in range(n):
            d = np.float64(row[pixels[p]]) - mean
            q += d * d
        std[i] = np.sqrt(q / n)
