"""Mean and variance per element over many samples, accumulated tile by tile and merged in any
order, in float64.

A :class:`Moments` holds, for each of ``m`` elements (detector pixels, radial bins), the count
``n`` of samples, their mean and ``m2``, the sum of squared deviations from the mean
(``variance = m2 / n``). Two of them merge with the pairwise update of Chan, Golub and LeVeque
(1979): with ``d = mean_b - mean_a``, ``mean = mean_a + d n_b / n`` and
``m2 = m2_a + m2_b + d^2 n_a n_b / n``. Unlike sums of squares, nothing large is subtracted,
so the variance of data with a large mean keeps its digits (a detector's dark level, a
bright central disk), and the merge is associative up to rounding: partitions may finish in
any order.

Tiles are folded in by :func:`fold_tile`: the mean and ``m2`` of each block of pixels over the
tile's frames (one pass, over the deviations from the running mean), then the same update; a
compiled loop (:mod:`apps.core.moments_jit`) reads the data in its own dtype, so integer data is
never copied to float64, and the pixels are shared out over the process's threads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from apps.core import kernels


class Moments(NamedTuple):
    """``n`` samples of ``m`` elements: their ``mean`` and ``m2`` (float64, ``(m,)``)."""

    n: int
    mean: np.ndarray
    m2: np.ndarray


def empty_moments(size: int) -> Moments:
    """The moments of no samples of ``size`` elements."""
    return Moments(0, np.zeros(size), np.zeros(size))


def moments_of(samples: np.ndarray) -> Moments:
    """The moments of the rows of ``samples`` ``(k, m)`` (any real dtype), in float64."""
    values = np.asarray(samples, dtype=np.float64)
    if values.shape[0] == 0:
        return empty_moments(values.shape[1])
    mean = values.mean(axis=0)
    deviation = values - mean
    return Moments(values.shape[0], mean, np.einsum("ij,ij->j", deviation, deviation))


def combine_moments(a: Moments, b: Moments) -> Moments:
    """The moments of the samples of ``a`` and of ``b`` together (new arrays)."""
    if b.n == 0:
        return Moments(a.n, a.mean.copy(), a.m2.copy())
    if a.n == 0:
        return Moments(b.n, b.mean.copy(), b.m2.copy())
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / n)
    return Moments(n, mean, m2)


def variance(moments: Moments) -> np.ndarray:
    """``m2 / n`` (the population variance, ddof 0); NaN where there is no sample."""
    if moments.n == 0:
        return np.full(moments.m2.shape, np.nan)
    return moments.m2 / moments.n


def fold_tile(moments: Moments, tile: np.ndarray) -> Moments:
    """``moments`` with the rows of ``tile`` ``(k, m)`` folded in; ``moments``' arrays are
    updated in place (and returned in the new value).

    Integer and float32/float64 tiles in native byte order are read as they are; any other
    dtype is converted to float64 first.
    """
    k, size = tile.shape
    if k == 0:
        return moments
    tile = compiled_tile(tile)
    from apps.core import moments_jit  # numba is slow to import: only when a tile comes

    def fold(lo: int, hi: int) -> None:
        moments_jit.fold_columns(tile, lo, hi, moments.n, moments.mean, moments.m2)

    kernels.split_over_threads(fold, size, values=k * size, unit=moments_jit.BLOCK)
    return Moments(moments.n + k, moments.mean, moments.m2)


def compiled_tile(tile: np.ndarray) -> np.ndarray:
    """``tile`` as the compiled loops take it: integers and float32/float64 in native byte
    order as they are, anything else converted to float64."""
    dtype = tile.dtype
    if dtype.isnative and (dtype.kind in "iu" or dtype in (np.float32, np.float64)):
        return tile
    return tile.astype(np.float64)
