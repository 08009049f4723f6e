"""The fold of :mod:`apps.core.fold_jit` in numpy: the same additions in the same order, so the
same bits, without numba.

A fresh process pays 0.4-0.6 s of CPU to import numba and load even a cached loop
(docs/performance.md); a process that sums one file and exits (``manage.py analyze`` per file)
folds here instead: per four frames, the pairwise float32 sums ``(r0 + r1) + (r2 + r3)`` added
into ``acc``, flushed into the float64 ``total`` when the compiled loop flushes. Integers are
converted to float32 by the additions (``dtype=float32``), as the compiled loop converts each
value. The maxima use numpy's ``maximum``, which propagates NaN where the compiled loop skips
it; :meth:`apps.core.kernels.Fold.finish` marks every pixel whose sum is NaN, so the results
agree.
"""

from __future__ import annotations

import numpy as np


def fold(
    tile: np.ndarray,
    total: np.ndarray,
    peak: np.ndarray | None,
    acc: np.ndarray,
    flush_every: int,
) -> None:
    """:func:`apps.core.fold_jit.fold`, bit for bit."""
    k = tile.shape[0]
    pair = np.empty_like(acc)
    other = np.empty_like(acc)
    top = None if peak is None else np.empty_like(peak)
    i = pending = 0
    while i < k:
        if i + 4 <= k:
            np.add(tile[i], tile[i + 1], out=pair, dtype=np.float32)
            np.add(tile[i + 2], tile[i + 3], out=other, dtype=np.float32)
            pair += other
            acc += pair
            if peak is not None and top is not None:
                np.maximum(tile[i], tile[i + 1], out=top)
                np.maximum(top, tile[i + 2], out=top)
                np.maximum(top, tile[i + 3], out=top)
                np.maximum(peak, top, out=peak)
            step = 4
        else:
            np.add(acc, tile[i], out=acc, dtype=np.float32)
            if peak is not None:
                np.maximum(peak, tile[i], out=peak)
            step = 1
        i += step
        pending += step
        if pending + 4 > flush_every:
            total += acc
            acc.fill(0)
            pending = 0
    total += acc
    acc.fill(0)
