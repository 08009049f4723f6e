"""The numba-compiled loop behind the ``parallax`` analysis's image (imported on first use)."""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the float sums; NaN and infinity keep their IEEE meaning.
_FAST = {"nsz", "arcp", "contract", "reassoc"}


@njit(nogil=True, cache=True, fastmath=_FAST, boundscheck=False)
def scatter_centred(values, ny, nx, shifts, out):  # type: ignore[no-untyped-def]
    """Add, for every frame ``t`` (row of ``values`` (n, m), scan position ``(t // nx, t % nx)``)
    that has no NaN, its values less their mean to ``out`` (ny, nx) at the position moved back by
    ``shifts`` (m, 2) int64, periodic: ``out[y - dy_k, x - dx_k] += v[t, k] - mean_k v[t]``."""
    m = values.shape[1]
    for t in range(values.shape[0]):
        row = values[t]
        total = 0.0
        for k in range(m):
            total += row[k]
        if np.isnan(total):
            continue
        mean = total / m
        y, x = t // nx, t % nx
        for k in range(m):
            out[(y - shifts[k, 0]) % ny, (x - shifts[k, 1]) % nx] += row[k] - mean
