"""The numba-compiled loop behind the ``fem`` analysis (imported on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the float sums; NaN and infinity keep their IEEE meaning.
_FAST = {"nsz", "arcp", "contract", "reassoc"}


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def ring_statistics(tile, lo, hi, pixels, starts, runs, std, bin_sums):  # type: ignore[no-untyped-def]
    """For frames ``[lo, hi)`` of ``tile`` (k, c): ``bin_sums[i, b]``, the sum of the pixels
    ``pixels[starts[b]:starts[b + 1]]`` of frame ``i``, and ``std[i]``, the population standard
    deviation of all of ``pixels``. ``runs`` ``(r, 2)``: the same pixels as rising runs
    ``[start, stop)`` of the flat frame.

    Three passes over a frame: its sum over the runs, in memory order (the frame streams in
    and the hardware prefetchers follow); the bins, gathered from the cache; the deviations
    from the mean over the runs. Gathering by bin straight from memory waited on every line
    (twice as slow over a 4 GiB file, docs/performance.md). Positions are unsigned: a signed
    one is wrapped as if negative, which turns a run's loads into gathers.
    """
    n = pixels.shape[0]
    n_bins = starts.shape[0] - 1
    for i in range(lo, hi):
        row = tile[i]
        total = 0.0
        for r in range(runs.shape[0]):
            for p in range(np.uint64(runs[r, 0]), np.uint64(runs[r, 1])):
                total += np.float64(row[p])
        for b in range(n_bins):
            s = 0.0
            for p in range(starts[b], starts[b + 1]):
                s += np.float64(row[np.uint64(pixels[p])])
            bin_sums[i, b] = s
        mean = total / n
        q = 0.0
        for r in range(runs.shape[0]):
            for p in range(np.uint64(runs[r, 0]), np.uint64(runs[r, 1])):
                d = np.float64(row[p]) - mean
                q += d * d
        std[i] = np.sqrt(q / n)
