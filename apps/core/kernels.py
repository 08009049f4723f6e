"""Compiled loops for the reductions numpy cannot fuse: sum and maximum in one pass.

numpy needs two passes over a tile for a sum and a maximum (and a cast buffer for integers);
one compiled loop reads each frame once, four frames at a time, so the running sums and maxima
are loaded and stored once per four frames; it measured two to three times as fast as the two
numpy passes (docs/performance.md).

The loop (:mod:`apps.core.fold_jit`) is compiled by numba on first use and cached on disk
(``cache=True``), so a process pays the compilation (seconds) only the first time ever; numba
itself, slow to import, is imported only then: a process that has not warmed up
(:func:`warm_up`) folds with numpy's twin of the loop (:mod:`apps.core.fold_numpy`, the same
bits) for its first :data:`COMPILED_AFTER_BYTES`. The loop releases the GIL: :class:`Fold`
splits each tile's frames over a few threads (the cores of this process; one in a
single-threaded dask worker, see :func:`threads`), as BLAS does for the mask products.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Data types the fused fold takes: float32 sums of at most FOLD_FLUSH_FRAMES of them are exact
#: (integers of at most 16 bits: ``65535 * 256 < 2**24``) or far inside the float32 tolerance.
FOLD_KINDS = frozenset({"u1", "i1", "u2", "i2", "f4"})
#: Frames summed in float32 before they are added into the float64 total.
FOLD_FLUSH_FRAMES = {"f": 64, "u": 256, "i": 256}


def can_fold(dtype: np.dtype) -> bool:
    """Whether :func:`fold_frames` takes tiles of ``dtype`` (native byte order, <= 32 bits)."""
    dtype = np.dtype(dtype)
    return dtype.isnative and f"{dtype.kind}{dtype.itemsize}" in FOLD_KINDS


def fold_frames(
    tile: np.ndarray, total: np.ndarray, peak: np.ndarray | None, acc: np.ndarray
) -> None:
    """Add the frames of ``tile`` into ``total`` and take their maximum into ``peak``.

    Parameters
    ----------
    tile : ndarray, shape (k, c)
        Frames in one of :data:`FOLD_KINDS`, native byte order; rows may be strided (a view
        of a memory map), each row contiguous.
    total : ndarray of float64, shape (c,)
        Running sums, updated in place.
    peak : ndarray, shape (c,), the tile's dtype, or None
        Running maxima, updated in place. NaN is not propagated here: :meth:`Fold.finish`
        marks the pixels whose sum is NaN. None: the sums only (a loop with a fifth fewer
        instructions per pixel; the same sums, bit for bit).
    acc : ndarray of float32, shape (c,), zeros
        Scratch for the float32 partial sums; left zeroed.

    The compiled loop (:mod:`apps.core.fold_jit`) once the process has it (:func:`warm_up`, or
    after :data:`COMPILED_AFTER_BYTES` folded), numpy's twin of it before
    (:mod:`apps.core.fold_numpy`): the same bits either way.
    """
    flush = FOLD_FLUSH_FRAMES[tile.dtype.kind]
    fold = _compiled.fold
    if fold is None:
        _compiled.numpy_bytes += tile.nbytes
        if _compiled.numpy_bytes < COMPILED_AFTER_BYTES:
            from apps.core import fold_numpy

            fold_numpy.fold(tile, total, peak, acc, flush)
            return
        fold = _load_compiled()
    fold(tile, total, peak, acc, flush)


#: Bytes a process folds with numpy before it loads the compiled loop. Loading numba costs a
#: fresh process 0.4-0.6 s of CPU (docs/performance.md), numpy's twin about 0.02 s of CPU per
#: GiB more than the compiled loop: a process that sums a few files and exits (``manage.py
#: analyze``) never pays for numba; a long-lived one (dask workers, warmed by
#: :class:`apps.core.warmup.WarmUp`) folds compiled from the start.
COMPILED_AFTER_BYTES = 8 * 2**30


class _Compiled:
    """The compiled fold once loaded, and what numpy folded until then."""

    fold: Callable[..., None] | None = None
    numpy_bytes = 0


_compiled = _Compiled()


def _load_compiled() -> Callable[..., None]:
    # numba is slow to import: only processes that fold much, or warm up, pay for it, once.
    from apps.core import fold_jit

    _compiled.fold = fold_jit.fold
    return fold_jit.fold


def warm_up() -> None:
    """Import numba and load (or compile) the fold and the mask product for the common dtypes,
    ahead of a job; the fold is compiled from then on."""
    _load_compiled()
    for dtype in ("<u2", "<f4"):
        tile = np.zeros((5, 16), dtype=dtype)
        tile.flags.writeable = False  # as a memory map's tiles are: numba types them apart
        total, peak = np.zeros(16), np.zeros(16, dtype=dtype)
        fold_frames(tile, total, peak, np.zeros(16, np.float32))
        with threads(1):
            for count in (4, WIDTH):  # the loops of a few masks, the lanes' loop
                weights = np.ones((count, 16), np.float32)
                product = MaskProduct(weights, floats=tile.dtype.kind == "f")
                product(tile, np.empty((5, count), np.float32))


_local = threading.local()
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
#: Frames per thread and tile at least: below this a thread costs more than it saves.
MIN_FRAMES_PER_THREAD = 8
#: Values per thread at least for :func:`split_over_threads`.
MIN_VALUES_PER_THREAD = 2**16


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_count() -> int:
    """Threads the compiled loops of the calling thread use (default: this process's cores)."""
    return getattr(_local, "threads", None) or _cores()


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """Use ``count`` threads for the compiled loops called from this thread, inside the block.

    A dask worker with one thread per process passes 1: its process is one of several that
    share the cores.
    """
    before = getattr(_local, "threads", None)
    _local.threads = max(1, int(count))
    try:
        yield
    finally:
        _local.threads = before


def thread_pool(count: int) -> ThreadPoolExecutor:
    """The shared pool of ``count`` threads the compiled loops run on."""
    with _pools_lock:
        pool = _pools.get(count)
        if pool is None:
            pool = _pools[count] = ThreadPoolExecutor(count, thread_name_prefix="core-fold")
        return pool


def split_over_threads(
    work: Callable[[int, int], object], size: int, *, values: int, unit: int = 1
) -> None:
    """Call ``work(lo, hi)`` on blocks that cover ``[0, size)`` (edges multiples of ``unit``),
    one per thread of :func:`thread_count` but at least :data:`MIN_VALUES_PER_THREAD` of the
    ``values`` each (a smaller job runs on the calling thread); returns when all are done."""
    count = min(thread_count(), max(1, values // MIN_VALUES_PER_THREAD), max(1, size // unit))
    if count == 1:
        work(0, size)
        return
    edges = [size * i // count // unit * unit for i in range(count)] + [size]
    pool = thread_pool(count)
    done = [pool.submit(work, edges[i], edges[i + 1]) for i in range(count)]
    for future in done:
        future.result()


#: Blocks of frames each tile is split into, each summed into sums of its own that
#: :meth:`Fold.finish` adds up in block order: a fixed number whatever the threads, so a
#: partition's sums have the same bits in a single-threaded dask worker and in a process that
#: folds on all its cores (the inline executor); fewer threads fold the blocks in turn.
FOLD_BLOCKS = 2


class Fold:
    """Sum and maximum of many tiles ``(k, c)`` into ``total`` and ``peak`` (None: the sum
    only), over threads.

    Each tile's frames are split into :data:`FOLD_BLOCKS` blocks, each folded into sums and
    maxima of its own (a column range would be a strided view, which numba does not
    vectorise), on up to as many threads; :meth:`finish` adds them up and marks NaN pixels.
    """

    def __init__(self, total: np.ndarray, peak: np.ndarray | None) -> None:
        self.total, self.peak = total, peak
        self._own = [(total, peak, np.zeros(total.shape, np.float32))]
        self._own += [
            (
                np.zeros_like(total),
                None if peak is None else peak.copy(),
                np.zeros(total.shape, np.float32),
            )
            for _ in range(FOLD_BLOCKS - 1)
        ]
        count = min(thread_count(), FOLD_BLOCKS)
        self._pool = thread_pool(count) if count > 1 else None

    def __call__(self, tile: np.ndarray) -> None:
        k = tile.shape[0]
        if k < 2 * MIN_FRAMES_PER_THREAD:
            fold_frames(tile, *self._own[0])
            return
        n = min(FOLD_BLOCKS, k // MIN_FRAMES_PER_THREAD)
        # Blocks of whole groups of four frames, the unit of the compiled loop.
        edges = [k * i // n // 4 * 4 for i in range(n)] + [k]
        blocks = [(tile[edges[i] : edges[i + 1]], self._own[i]) for i in range(n)]
        if self._pool is None:
            for block, own in blocks:
                fold_frames(block, *own)
            return
        done = [self._pool.submit(fold_frames, block, *own) for block, own in blocks]
        for future in done:
            future.result()

    def block(self, index: int, tile: np.ndarray) -> None:
        """Fold ``tile`` into the sums of block ``index`` (< :data:`FOLD_BLOCKS`) on the
        calling thread: a caller that splits the frames into blocks itself, one per thread."""
        fold_frames(tile, *self._own[index])

    def finish(self) -> None:
        for total, peak, _acc in self._own[1:]:
            self.total += total
            if peak is not None and self.peak is not None:
                np.maximum(self.peak, peak, out=self.peak)
        # numpy's maximum propagates NaN, the compiled loop's does not: a NaN sum marks them.
        if self.peak is not None and self.peak.dtype.kind == "f":
            self.peak[np.isnan(self.total)] = np.nan


#: Masks per chunk of the lanes' loops.
WIDTH = 16
#: Masks from which the compiled product beats BLAS, for float32 data and for integers (which
#: BLAS needs converted first); fewer than the loop's four are padded with zero masks.
PRODUCT_MIN_MASKS = {"f": 2, "u": 1, "i": 1}


def can_multiply(data_dtype: np.dtype, compute_dtype: np.dtype, count: int) -> bool:
    """Whether :class:`MaskProduct` takes tiles of ``data_dtype`` with ``count`` masks."""
    data_dtype = np.dtype(data_dtype)
    return (
        np.dtype(compute_dtype) == np.float32
        and can_fold(data_dtype)
        and count >= PRODUCT_MIN_MASKS[data_dtype.kind]
    )


def _flat(data: np.ndarray) -> tuple[np.ndarray, int]:
    """``data`` (k, w), rows contiguous, as one flat read-only array and its row stride."""
    k, w = data.shape
    item = data.itemsize
    rows_apart = k < 2 or (data.strides[0] % item == 0 and data.strides[0] >= w * item)
    if not rows_apart or (w > 1 and data.strides[1] != item):
        data = np.ascontiguousarray(data)
    stride = data.strides[0] // item if k > 1 else w
    size = (k - 1) * stride + w if k else 0
    flat = np.lib.stride_tricks.as_strided(data, shape=(size,), strides=(item,), writeable=False)
    return flat, stride


class MaskProduct:
    """``data . weights.T`` for tiles ``(k, w)`` of the :data:`FOLD_KINDS`, over threads, with
    the compiled loop (which converts the data to float32 in its registers).

    Each thread takes a block of the tile's frames (a multiple of the loop's six or eight); the
    last frames of a tile go through a zero-padded block. Sums are float64 per block of pixels
    (:mod:`apps.core.masks_jit`, :mod:`apps.core.masks_lanes_jit`), so the result is at least
    as close as SGEMM's.
    """

    def __init__(
        self,
        weights: np.ndarray,
        *,
        masks_per_block: int | None = None,
        frames_per_block: int | None = None,
        floats: bool = True,
    ) -> None:
        """``weights``: the masks as rows, ``(m, w)``; ``masks_per_block``: which of the loops
        to use, 2 or 4 (:data:`apps.core.masks_jit.PRODUCTS`) or 16 (the lanes' loops,
        :mod:`apps.core.masks_lanes_jit`, with ``frames_per_block`` 6 or 8); by default the
        lanes' from ``masks_lanes_jit.MIN_MASKS`` masks of float32 tiles (``floats``), and each
        the one for this host. The lanes' loop converts integers one pixel at a time, which
        measured slower than the loops of a few masks (docs/performance.md)."""
        from apps.core import masks_lanes_jit

        self.count, self.width = weights.shape
        many = self.count >= masks_lanes_jit.MIN_MASKS
        default = masks_per_block is None and floats and many
        if masks_per_block == WIDTH or default:
            self._lanes_loop(weights, frames_per_block)
        else:
            self._masks_loop(weights, masks_per_block)
        count = thread_count()
        self._threads = count
        self._pool = thread_pool(count) if count > 1 else None

    def _masks_loop(self, weights: np.ndarray, block: int | None) -> None:
        from apps.core import masks_jit

        block = block or masks_jit.MASKS
        self._product = masks_jit.PRODUCTS[block]
        self._frames = masks_jit.FRAMES
        self._padded = -(-self.count // block) * block
        rows = np.zeros((self._padded, self.width), np.float32)
        rows[: self.count] = weights
        self._weights = rows.reshape(-1)  # the loop takes them flat, mask after mask
        self._per_call = self._padded
        self._flat_sums = False

    def _lanes_loop(self, weights: np.ndarray, frames: int | None) -> None:
        from apps.core import masks_lanes_jit

        frames = frames or masks_lanes_jit.FRAMES
        self._product = masks_lanes_jit.PRODUCTS[frames]
        self._frames = frames
        chunks = -(-self.count // WIDTH)
        self._padded = chunks * WIDTH
        lanes = np.zeros((chunks, self.width, WIDTH), np.float32)
        for c in range(chunks):
            part = weights[c * WIDTH : (c + 1) * WIDTH]
            lanes[c, :, : part.shape[0]] = part.T
        self._weights = lanes.reshape(-1)  # chunk after chunk, each pixel's sixteen masks
        self._per_call = chunks
        self._flat_sums = True

    def __call__(self, data: np.ndarray, out: np.ndarray) -> None:
        """``out`` ``(k, m)`` (any strides) = ``data`` ``(k, w)`` . weights.T."""
        step = self._frames
        k = data.shape[0]
        main = k // step * step
        sums = np.zeros((main + step, self._padded))
        flat, stride = _flat(data)
        blocks = min(self._threads, main // (step * MIN_FRAMES_PER_THREAD)) or 1
        edges = [main * i // blocks // step * step for i in range(blocks)] + [main]
        jobs = [
            (flat[edges[i] * stride :], stride, edges[i + 1] - edges[i], sums[edges[i] :])
            for i in range(blocks)
            if edges[i + 1] > edges[i]
        ]
        if main < k:
            tail = np.zeros((step, self.width), data.dtype)
            tail[: k - main] = data[main:]
            jobs.append((_flat(tail)[0], self.width, step, sums[main:]))
        if self._pool is None or len(jobs) == 1:
            for job in jobs:
                self._block(*job)
        else:
            for future in [self._pool.submit(self._block, *job) for job in jobs]:
                future.result()
        out[...] = sums[:k, : self.count]

    def _block(self, flat: np.ndarray, stride: int, frames: int, sums: np.ndarray) -> None:
        # The lanes' loops take the sums flat (rows of whole chunks), the others as rows.
        out = sums.reshape(-1) if self._flat_sums else sums
        self._product(flat, stride, frames, self.width, self._weights, self._per_call, out)
