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

#: Frames up to this many pixels take one mask of whole numbers as a table over the whole
#: frame (:func:`apps.core.csr_jit.product_table`: 1 MiB of int32, in L2 with the events).
TABLE_PIXELS = 2**18

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
    chosen = _product_for(masks, dtype)
    threads = kernels.thread_count()
    c = partition.frame_size
    _stop_if(should_stop)
    ahead: tuple[Callable[[], int], CSRBlock] | None = None
    for block in partition.blocks(roi):
        block = block.native()
        rows = out[block.first - partition.start :][: block.n_frames]
        loop, arrays = block_loop(masks, chosen, block, c)

        def work(
            a: int,
            b: int,
            block: CSRBlock = block,
            rows: np.ndarray = rows,
            loop: Any = loop,
            arrays: Any = arrays,
        ) -> int:
            ptr, indices, values = _sub(block, a, b)
            return int(loop(ptr, indices, values, *arrays, c, rows[a:b]))

        # The next block starts before this thread waits for the one before it: the threads
        # go from block to block without waiting for this one to cut and send the next.
        started = (_start_over_threads(work, block, threads), block)
        if ahead is not None:
            _finish(partition, *ahead, should_stop)
        ahead = started
    if ahead is not None:
        _finish(partition, *ahead, should_stop)
    return out


def _finish(
    partition: CSRPartition,
    events_outside: Callable[[], int],
    block: CSRBlock,
    should_stop: StopCheck | None,
) -> None:
    partition.check_events(events_outside(), block)
    _stop_if(should_stop)


def block_loop(
    masks: MaskStack, chosen: tuple[Any, np.ndarray, Any], block: CSRBlock, c: int
) -> tuple[Any, tuple[Any, ...]]:
    """The compiled loop for ``block`` of frames of ``c`` pixels and what it takes between the
    events and ``c``: ``chosen`` is :func:`_product_for`'s. The integer loops where the block
    allows them (:func:`_whole_for`); one mask of whole numbers over frames of up to
    :data:`TABLE_PIXELS` as a table over the frame, or as bits where it is zeros and ones
    and the int32 sum is safe."""
    from apps.core import csr_jit

    product, weights, whole = chosen
    lo = masks.span[0]
    if whole is None:
        return product, (weights, lo)
    ints = _whole_for(block, *whole)
    if masks.count == 1 and ints.shape[0] and c <= TABLE_PIXELS:
        narrow = _largest_sum(block, whole[1]) < 2**31
        binary = masks.derived(("csr zeros and ones",), lambda: bool(ints.min() >= 0))
        if narrow and whole[1] == 1 and binary:  # zeros and ones: a disk, a ring
            return csr_jit.product_bits, (_bits(masks, ints, c),)
        return csr_jit.product_table, (_table(masks, ints, c), narrow)
    return product, (weights, ints, lo)


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


def _table(masks: MaskStack, whole: np.ndarray, c: int) -> np.ndarray:
    """One mask's integer weights over the whole frame and a zero at ``c`` (made once per
    stack and frame size): :func:`apps.core.csr_jit.product_table`."""

    def make() -> np.ndarray:
        table = np.zeros(c + 1, np.int32)
        table[masks.span[0] : masks.span[1]] = whole[0]
        return table

    return masks.derived(("csr whole table", c), make)


def _bits(masks: MaskStack, whole: np.ndarray, c: int) -> np.ndarray:
    """One mask of zeros and ones as bits over the whole frame, pixel ``p`` at bit
    ``p & 31`` of word ``p >> 5``, pixel ``c`` zero (made once per stack and frame size):
    :func:`apps.core.csr_jit.product_bits`."""

    def make() -> np.ndarray:
        words = np.zeros(c // 32 + 1, np.uint32)
        pixels = masks.span[0] + np.flatnonzero(whole[0])
        np.bitwise_or.at(words, pixels >> 5, np.uint32(1) << (pixels & 31).astype(np.uint32))
        return words

    return masks.derived(("csr bits", c), make)


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
    if _largest_sum(block, largest) >= 2**53:
        return whole[:0]
    return whole


def _largest_sum(block: CSRBlock, largest: int) -> int:
    """A bound on the magnitude of any partial sum of a frame of ``block`` (integer counts)
    times weights of at most ``largest``."""
    info = np.iinfo(block.values.dtype)
    events = int(np.diff(block.indptr).max()) if block.n_frames else 0
    return events * max(info.max, -int(info.min)) * largest


def _padded(masks: MaskStack, dtype: np.dtype) -> np.ndarray:
    """The span's weights as 3 columns (two or three masks: ``com``) or 4, zero-padded."""
    matrix = masks.span_matrix(dtype)
    out = np.zeros((matrix.shape[0], max(3, masks.count)), dtype)
    out[:, : masks.count] = matrix
    return out


def _start_over_threads(
    work: Callable[[int, int], int], block: CSRBlock, threads: int
) -> Callable[[], int]:
    """Start ``work(a, b)`` over frame ranges of ``block``, one range per thread when it has
    events enough for them (else here, now); returns the wait for the sum of their results."""
    shares = min(threads, max(1, int(block.indptr[-1]) // kernels.MIN_VALUES_PER_THREAD))
    ranges = [r for r in _split(block, shares) if r[1] > r[0]] or [(0, block.n_frames)]
    if len(ranges) == 1:
        done = work(*ranges[0])
        return lambda: done
    pool = kernels.thread_pool(len(ranges))
    futures = [pool.submit(work, a, b) for a, b in ranges]
    return lambda: sum(future.result() for future in futures)


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
