"""Mask products and sums of electron-counted frames, event by event (CSR partitions).

A frame of 65536 pixels with 650 events (0.01 electrons per pixel) costs 650 multiply-adds
per mask here instead of 65536: the dense path would first have to build the frame. The
results equal the dense computation's: the product sums in float64 and is stored in the
compute dtype (:func:`apps.core.ops.compute_dtype`), the sum and maximum are float64.

Each block of frames (:meth:`apps.core.io.csr.CSRPartition.blocks`) is split over the
threads of :func:`apps.core.kernels.thread_count` by frames, each thread writing its own rows
(products) or its own sums (fixed :data:`SUM_SHARES`, so the bits do not depend on the
number of threads).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.core import kernels
from apps.core.errors import JobCancelled
from apps.core.masks import MaskStack

if TYPE_CHECKING:
    from apps.core.io.csr import CSRBlock, CSRPartition
    from apps.core.ops import StopCheck

#: Independent running sums a partition's sum is split into (added up in order at the end).
SUM_SHARES = 2


def _stop_if(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise JobCancelled()


def _split(block: CSRBlock, shares: int) -> list[tuple[int, int]]:
    """Frame ranges of ``block`` with about equal events, ``shares`` of them (some empty)."""
    ptr = block.indptr
    targets = [ptr[-1] * i // shares for i in range(1, shares)]
    cuts = [0, *np.searchsorted(ptr, targets, side="left").tolist(), block.n_frames]
    return [(min(a, b), b) for a, b in itertools.pairwise(cuts)]


def _sub(block: CSRBlock, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ptr = block.indptr[lo : hi + 1]
    a, b = int(ptr[0]), int(ptr[-1])
    return ptr - a, block.indices[a:b], block.values[a:b]


def apply_masks_csr(
    partition: CSRPartition,
    masks: MaskStack,
    dtype: np.dtype,
    *,
    roi: np.ndarray | None = None,
    should_stop: StopCheck | None = None,
) -> np.ndarray:
    """``A . B`` ``(n_frames, m)`` in ``dtype`` for a CSR partition; NaN outside ``roi``."""

    out = np.full((partition.n_frames, masks.count), np.nan, dtype=dtype)
    lo = masks.span[0]
    product, weights, whole = _product_for(masks, dtype)
    threads = kernels.thread_count()
    c = partition.frame_size
    _stop_if(should_stop)
    for block in partition.blocks(roi):
        block = block.native()
        rows = out[block.first - partition.start :][: block.n_frames]
        arrays = (weights,) if whole is None else (weights, _whole_for(block, *whole))

        def work(
            a: int, b: int, block: CSRBlock = block, rows: np.ndarray = rows, arrays: Any = arrays
        ) -> int:
            ptr, indices, values = _sub(block, a, b)
            return int(product(ptr, indices, values, *arrays, lo, c, rows[a:b]))

        partition.check_events(_over_threads(work, block, threads), block)
        _stop_if(should_stop)
    return out


def _product_for(
    masks: MaskStack, dtype: np.dtype
) -> tuple[Any, np.ndarray, tuple[np.ndarray, int] | None]:
    """The compiled loop for ``masks``, the weights it takes and, for the loops that can sum
    in integers, the weights as integers with their largest magnitude (made once per stack)."""
    from apps.core import csr_jit

    if masks.count == 1:  # the mask's row: one 4-byte weight per event
        rows = masks.derived(("csr rows", dtype.str), lambda: masks.span_rows(dtype))
        return csr_jit.product_few, rows, masks.derived(("csr whole rows",), lambda: _whole(rows))
    if masks.count <= 4:  # (pixels, 3 or 4): the sums in registers
        small = masks.derived(("csr small", dtype.str), lambda: _padded(masks, dtype))
        return csr_jit.product4, small, masks.derived(("csr whole small",), lambda: _whole(small))
    # chunks of sixteen masks' weights per pixel: an event is one load and one multiply-add
    from apps.core import csr_lanes_jit

    weights = masks.derived(
        ("csr lanes", dtype.str), lambda: csr_lanes_jit.lane_weights(masks.span_matrix(dtype))
    )
    return csr_lanes_jit.product, weights, None


def _whole(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """``weights`` as int32 and their largest magnitude where they are all whole numbers
    (disks, rings, ``com`` about a whole pixel), else no rows (the loops then sum floats)."""
    if weights.size and np.array_equal(weights, np.round(weights)):
        largest = int(np.abs(weights).max())
        if largest < 2**31:
            return weights.astype(np.int32), largest
    return np.zeros((0, weights.shape[1]), np.int32), 0


def _whole_for(block: CSRBlock, whole: np.ndarray, largest: int) -> np.ndarray:
    """The integer weights where the block's sums may be taken in int64: integer counts (at
    most 32 bits) and no sum of a frame reaching 2**53 (below it the float64 sums are exact,
    so both give the same number); else no rows."""
    values = block.values.dtype
    if not whole.shape[0] or values.kind not in "iu" or values.itemsize > 4:
        return whole[:0]
    info = np.iinfo(values)
    events = int(np.diff(block.indptr).max()) if block.n_frames else 0
    if events * max(info.max, -int(info.min)) * largest >= 2**53:
        return whole[:0]
    return whole


def _padded(masks: MaskStack, dtype: np.dtype) -> np.ndarray:
    """The span's weights as 3 columns (two or three masks: ``com``) or 4, zero-padded."""
    matrix = masks.span_matrix(dtype)
    out = np.zeros((matrix.shape[0], max(3, masks.count)), dtype)
    out[:, : masks.count] = matrix
    return out


def _over_threads(work: Callable[[int, int], int], block: CSRBlock, threads: int) -> int:
    """The sum of ``work(a, b)`` over frame ranges of ``block``, one range per thread when it
    has events enough for them."""
    shares = min(threads, max(1, int(block.indptr[-1]) // kernels.MIN_VALUES_PER_THREAD))
    ranges = [r for r in _split(block, shares) if r[1] > r[0]] or [(0, block.n_frames)]
    if len(ranges) == 1:
        return work(*ranges[0])
    pool = kernels.thread_pool(len(ranges))
    return sum(future.result() for future in [pool.submit(work, a, b) for a, b in ranges])


class _Sums:
    """One share's running sums over its frames: total (int64 for integer counts, exact;
    else float64), maximum (in the data's dtype, as the dense sum keeps it) and the number of
    frames touching each pixel (only for data that can be negative: for counts 0 is the
    least value, so the maximum starts there). Without ``maximum`` the sum alone."""

    def __init__(self, c: int, dtype: np.dtype, maximum: bool) -> None:
        self.maximum = maximum
        self.total: np.ndarray = np.zeros(c, np.int64 if dtype.kind in "iu" else np.float64)
        self.count_seen = maximum and dtype.kind != "u"
        lowest = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
        self.peak = np.full(c, 0 if dtype.kind == "u" else lowest, dtype)
        self.seen = np.zeros(c if self.count_seen else 1, np.int64)
        self._general: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, block: CSRBlock, lo: int, hi: int) -> int:
        """Fold frames ``[lo, hi)`` of ``block`` in; the number of events outside the frame."""
        from apps.core import csr_jit

        ptr, indices, values = _sub(block, lo, hi)
        if not self.maximum:
            return int(csr_jit.sum_only(ptr, indices, values, self.total))
        if csr_jit.rows_rise(ptr, indices):
            args = (self.total, self.peak, self.seen, self.maximum, self.count_seen)
            return int(csr_jit.fold_sorted(indices, values, *args))
        # A frame names a pixel twice: the general loop adds up each pixel's counts per frame.
        if self.seen.shape[0] == 1:  # it counts the frames touching each pixel in any case
            self.seen = np.zeros(self.total.shape[0], np.int64)
        if self._general is None:
            c = self.total.shape[0]
            self._general = (np.full(c, -1, np.int64), np.zeros(c, self.peak.dtype))
        first = block.first + lo
        sums = (self.total, self.peak, self.seen, *self._general)
        return int(csr_jit.fold(ptr, indices, values, first, *sums))


def sum_frames_csr(
    partition: CSRPartition,
    *,
    roi: np.ndarray | None = None,
    should_stop: StopCheck | None = None,
    maximum: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Sum (float64), maximum (float64; None unless ``maximum``) and count of the frames of a
    CSR partition, as :func:`apps.core.ops.sum_frames` gives them for dense frames."""
    c = partition.frame_size
    shares = [_Sums(c, partition.dtype.newbyteorder("="), maximum) for _ in range(SUM_SHARES)]
    threads = min(kernels.thread_count(), SUM_SHARES)
    pool = kernels.thread_pool(threads) if threads > 1 else None
    count = 0
    _stop_if(should_stop)
    for block in partition.blocks(roi):
        block = block.native()
        parts = list(zip(shares, _split(block, SUM_SHARES), strict=True))
        if pool is None:
            bad = [s.add(block, a, b) for s, (a, b) in parts]
        else:
            bad = [f.result() for f in [pool.submit(s.add, block, a, b) for s, (a, b) in parts]]
        partition.check_events(sum(bad), block)
        count += block.n_frames
        _stop_if(should_stop)
    if count == 0:
        return np.zeros(c), np.full(c, -np.inf) if maximum else None, 0
    exact = shares[0].total.copy()  # integer counts add up exactly before the conversion
    for share in shares[1:]:
        exact += share.total
    total = exact.astype(np.float64)
    if not maximum:
        return total, None, count
    peak = np.max([share.peak for share in shares], axis=0).astype(np.float64)
    if any(share.seen.shape[0] == c for share in shares):
        # A pixel some frame has no event at is 0 in that frame.
        seen = np.sum([share.seen for share in shares if share.seen.shape[0] == c], axis=0)
        np.maximum(peak, 0.0, out=peak, where=seen < count)
    peak[np.isnan(total)] = np.nan  # the dense maximum propagates NaN
    return total, peak, count
