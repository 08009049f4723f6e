"""The per-partition hot path: stream tiles, convert in cache, multiply or reduce.

Each function reads one partition exactly once, tile by tile, and never holds more than one
tile plus a reused conversion buffer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np

from apps.core import kernels
from apps.core.errors import JobCancelled
from apps.core.io.base import DEFAULT_TILE_BYTES, Partition, tile_frames_for
from apps.core.io.csr import CSRPartition
from apps.core.io.direct import READ_BYTES
from apps.core.masks import MaskStack
from apps.core.sparse_ops import apply_masks_csr, sum_frames_csr

StopCheck = Callable[[], bool]

ALIGN = 4096


def compute_dtype(data_dtype: np.dtype, mask_dtype: np.dtype | None = None) -> np.dtype:
    """float64 when data or masks are float64, float32 otherwise (the numerical contract)."""
    wide = np.dtype(data_dtype).kind == "f" and np.dtype(data_dtype).itemsize == 8
    wide = wide or (mask_dtype is not None and np.dtype(mask_dtype) == np.float64)
    return np.dtype(np.float64 if wide else np.float32)


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 4096-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    skip = (-raw.ctypes.data) % ALIGN
    return raw[skip : skip + nbytes].view(dtype).reshape(shape)


class _Converter:
    """Brings tiles into the compute dtype, reusing one aligned buffer."""

    def __init__(self, dtype: np.dtype, tile_frames: int, frame_size: int) -> None:
        self.dtype = dtype
        self._buf = aligned_empty((tile_frames, frame_size), dtype)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """``tile`` ``(k, c)`` (or ``(k, h, w)``, converted to ``(k, h * w)``) in the dtype."""
        # A native tile needs no copy, even a strided one (BLAS takes the row stride).
        if tile.dtype == self.dtype and tile.ndim == 2:
            return tile
        out = self._buf[: tile.shape[0]]
        np.copyto(out.reshape(tile.shape), tile, casting="unsafe")
        return out


def _checked_tiles(
    partition: Partition, tile_frames: int, roi: np.ndarray | None, should_stop: StopCheck | None
) -> Iterator[tuple[int, np.ndarray]]:
    """The partition's tiles, with ``should_stop`` checked before each tile is read, so a
    cancelled partition stops at its next tile (a caller whose check is expensive, a network
    call, throttles it: :class:`apps.core.runplan.ThrottledCheck`)."""
    _stop_if(should_stop)
    for item in partition.tiles(tile_frames=tile_frames, roi=roi):
        yield item
        _stop_if(should_stop)


def _run_streams(
    streams: list[Iterator[tuple[int, np.ndarray]]],
    should_stop: StopCheck | None,
    visit: Callable[[int, int, np.ndarray], object],
) -> None:
    """``visit(stream, first, tile)`` for every tile of a partition's tile streams
    (:meth:`apps.core.io.base.Partition.tile_streams`), each stream on a thread of its own (up
    to :func:`apps.core.kernels.thread_count`; fewer threads take the streams in turn), its
    kernels single-threaded. ``should_stop`` is checked before each tile, under a lock: the
    check may not be thread-safe."""
    lock = threading.Lock()

    def work(index: int) -> None:
        with kernels.threads(1):
            for first, tile in streams[index]:
                with lock:
                    _stop_if(should_stop)
                visit(index, first, tile)

    _stop_if(should_stop)
    threads = min(kernels.thread_count(), len(streams))
    if threads <= 1:
        for index in range(len(streams)):
            work(index)
        return
    pool = kernels.thread_pool(threads)
    for future in [pool.submit(work, index) for index in range(len(streams))]:
        future.result()


def _stop_if(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise JobCancelled()


def _tile_frames(partition: Partition, dtype: np.dtype, tile_frames: int | None) -> int:
    if tile_frames:
        return tile_frames
    return tile_frames_for(
        partition.frame_size * max(dtype.itemsize, partition.dtype.itemsize),
        tile_bytes=DEFAULT_TILE_BYTES,
    )


#: Tile streams a partition that has them is read in (one per thread, at most): each decodes
#: and analyses its own frames (:func:`_run_streams`).
STREAMS = 2
#: With few masks, one GEMV per mask over a converted, cache-resident tile beats one GEMM.
GEMV_MAX_MASKS = 4
#: Tiles that need no conversion are views of the memory map: larger tiles keep BLAS busy.
VIEW_TILE_BYTES = 256 * 2**20


#: Converted tiles take the masks' bounding box instead of their span below this area ratio.
BOX_MAX_RATIO = 0.75


class _MaskPixels:
    """Which pixels of a frame ``apply_masks`` reads: the span (a slice), or the bounding box.

    The box is a strided 3-d selection, so it is only taken when the tile is converted anyway
    (the copy is needed) and it is much smaller than the span: e.g. a disk or ring of radius
    60 on a 256 x 256 frame has a box of 47 % of its span, which halves the conversion work.
    """

    def __init__(self, masks: MaskStack, sig_shape: tuple[int, ...], converting: bool) -> None:
        self.masks = masks
        self.sig_shape = sig_shape
        lo, hi = masks.span
        r0, r1, c0, c1 = masks.box
        box_area = (r1 - r0) * (c1 - c0)
        self.use_box = converting and 0 < box_area <= BOX_MAX_RATIO * (hi - lo)
        self.width = box_area if self.use_box else hi - lo

    def weights(self, dtype: np.dtype) -> np.ndarray:
        if self.use_box:
            return self.masks.box_rows(dtype)
        return self.masks.span_rows(dtype)

    def select(self, tile: np.ndarray) -> np.ndarray:
        if self.use_box:
            r0, r1, c0, c1 = self.masks.box
            return tile.reshape(-1, *self.sig_shape)[:, r0:r1, c0:c1]
        lo, hi = self.masks.span
        return tile[:, lo:hi]


def apply_masks(
    partition: Partition,
    masks: MaskStack,
    *,
    roi: np.ndarray | None = None,
    tile_frames: int | None = None,
    should_stop: StopCheck | None = None,
) -> np.ndarray:
    """``R = A . B`` for one partition.

    Only the pixels ``masks.span`` of each frame are read (a view). Float32 products of 8-,
    16-bit or float32 data with enough masks take the compiled loop, which converts in its
    registers (:class:`apps.core.kernels.MaskProduct`); the others take BLAS, over tiles
    converted into a reused buffer where needed, only the pixels of ``masks.box`` when that is
    much smaller. Electron-counted partitions take the product event by event
    (:func:`apps.core.sparse_ops.apply_masks_csr`). Returns ``(partition.n_frames, masks.count)``
    in the compute dtype (possibly Fortran-ordered); rows of frames outside ``roi`` (boolean,
    length ``n_frames``) are NaN.
    """
    dtype = compute_dtype(partition.dtype, masks.dtype)
    if isinstance(partition, CSRPartition):
        return apply_masks_csr(partition, masks, dtype, roi=roi, should_stop=should_stop)
    # Results as (m, n): each mask's row slice is contiguous, so GEMV can write in place.
    out_t = np.full((masks.count, partition.n_frames), np.nan, dtype=dtype)
    if kernels.can_multiply(partition.dtype, dtype, masks.count) and masks.span[1] > masks.span[0]:
        _compiled_product(partition, masks, out_t, roi, tile_frames, should_stop)
    else:
        _blas_product(partition, masks, dtype, out_t, roi, tile_frames, should_stop)
    return out_t.T


def _compiled_product(
    partition: Partition,
    masks: MaskStack,
    out_t: np.ndarray,
    roi: np.ndarray | None,
    tile_frames: int | None,
    should_stop: StopCheck | None,
) -> None:
    lo, hi = masks.span
    if tile_frames is None:
        row_bytes = (hi - lo) * partition.dtype.itemsize
        tile_frames = tile_frames_for(row_bytes, tile_bytes=VIEW_TILE_BYTES)

    # Made once per stack and thread count: its padded copy of the masks took milliseconds of
    # every partition. Tile streams use the single-threaded one, one stream per thread.
    floats = partition.dtype.kind == "f"  # integer tiles keep the loops of a few masks

    def product_on(threads: int) -> kernels.MaskProduct:
        with kernels.threads(threads):
            return masks.derived(
                ("product", threads, floats),
                lambda: kernels.MaskProduct(masks.span_rows(np.dtype(np.float32)), floats=floats),
            )

    streams = partition.tile_streams(STREAMS, tile_frames=tile_frames, roi=roi)
    if streams is not None:
        single = product_on(1)

        def visit(_stream: int, first: int, tile: np.ndarray) -> None:
            a = first - partition.start
            single(tile[:, lo:hi], out_t[:, a : a + tile.shape[0]].T)

        _run_streams(streams, should_stop, visit)
        return
    product = product_on(kernels.thread_count())
    for first, tile in _checked_tiles(partition, tile_frames, roi, should_stop):
        a = first - partition.start
        product(tile[:, lo:hi], out_t[:, a : a + tile.shape[0]].T)


def _blas_product(
    partition: Partition,
    masks: MaskStack,
    dtype: np.dtype,
    out_t: np.ndarray,
    roi: np.ndarray | None,
    tile_frames: int | None,
    should_stop: StopCheck | None,
) -> None:
    converting = partition.dtype != dtype
    pixels = _MaskPixels(masks, partition.sig_shape, converting)
    width = pixels.width
    if tile_frames is None:
        tile_bytes = DEFAULT_TILE_BYTES if converting else VIEW_TILE_BYTES
        tile_frames = tile_frames_for(max(width, 1) * dtype.itemsize, tile_bytes=tile_bytes)
    convert = _Converter(dtype, tile_frames, width)
    gemv = converting and masks.count <= GEMV_MAX_MASKS
    # GEMV: the masks as rows (m, width); GEMM: ``A . B`` with B (width, m) C-contiguous, which
    # measured faster than ``B.T . A.T`` straight into ``out_t`` (docs/performance.md).
    weights = pixels.weights(dtype)
    if not gemv:
        weights = np.ascontiguousarray(weights.T)
    for first, tile in _checked_tiles(partition, tile_frames, roi, should_stop):
        a = first - partition.start
        data = convert(pixels.select(tile))
        rows = out_t[:, a : a + data.shape[0]]
        if width == 0:
            rows[...] = 0
        elif gemv:
            for j in range(masks.count):
                np.dot(data, weights[j], out=rows[j])
        else:
            rows.T[...] = data @ weights


#: Tiles for the numpy reductions: the second pass over a tile (the maximum) finds it in cache.
SUM_TILE_BYTES = 4 * 2**20
#: Tiles for the fused fold, which reads each frame once (views of a memory map, mostly): a
#: block of direct reads, so a cold file's partitions are read directly (same tiles, same
#: bits). 256 MiB measured no faster warm (1 GiB float32 sum in process, alternating: 4.0-4.7
#: GB/s with 256 MiB tiles, 3.5-15 with 32 MiB; docs/performance.md).
FOLD_TILE_BYTES = READ_BYTES


def _sum_accumulator(dtype: np.dtype) -> tuple[np.dtype, int]:
    """The dtype running sums are kept in, and after how many frames they go into float64.

    Integers of at most 16 bits sum exactly in float32 over 256 frames (``65535 * 256 < 2**24``);
    float32 sums of 32 frames stay far inside the float32 tolerance; wider data sums in float64.
    """
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        return np.dtype(np.float32), 256
    if dtype.kind == "f" and dtype.itemsize == 4:
        return np.dtype(np.float32), 32
    return np.dtype(np.float64), 0


class _Fold:
    """Adds tiles ``(k, c)`` into ``total`` and takes their maximum into ``peak`` (None: the
    sum only), with numpy.

    For the dtypes the compiled fold does not take (32-bit integers, float64, foreign byte
    order). numpy reduces along the frame axis in blocks that keep the partial result in L1,
    casting integers on the fly; the maximum then finds the tile in cache. The per-tile results
    go into buffers made once: dask workers run with ``MALLOC_TRIM_THRESHOLD_`` set, so every
    large temporary would be a fresh mmap (page faults on every tile, which measured slower).
    """

    def __init__(self, total: np.ndarray, peak: np.ndarray | None, dtype: np.dtype) -> None:
        acc_dtype, self.flush_every = _sum_accumulator(dtype)
        self.total, self.peak = total, peak
        self.acc = total if acc_dtype == np.float64 else np.zeros_like(total, dtype=acc_dtype)
        self._sum = np.empty_like(self.acc)
        self._max = None if peak is None else np.empty_like(peak)
        self._pending = 0

    def __call__(self, tile: np.ndarray) -> None:
        np.add.reduce(tile, axis=0, dtype=self.acc.dtype, out=self._sum)
        np.add(self.acc, self._sum, out=self.acc)
        if self.peak is not None and self._max is not None:
            np.maximum.reduce(tile, axis=0, dtype=self.peak.dtype, out=self._max)
            np.maximum(self.peak, self._max, out=self.peak)
        self._pending += tile.shape[0]
        if self._pending >= self.flush_every:
            self.finish()

    def finish(self) -> None:
        """Adds the float32 running sums into ``total`` (after every tile of the last run too)."""
        if self.acc is not self.total:
            self.total += self.acc
            self.acc.fill(0)
        self._pending = 0


def sum_frames(
    partition: Partition,
    *,
    roi: np.ndarray | None = None,
    tile_frames: int | None = None,
    should_stop: StopCheck | None = None,
    maximum: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Sum (float64), maximum (float64) and count of the frames of one partition.

    Shapes are ``(c,)``; the maximum is ``-inf`` where no frame was read, None when
    ``maximum`` is false (the sum alone reads as much and computes less). Each tile is read from
    memory once for 8- and 16-bit integers and float32 (a compiled fold, running sums in
    float32 flushed into float64), twice for other dtypes (numpy, see :class:`_Fold`); the
    maximum is kept in the data's own (native-order) dtype, exact. Electron-counted
    partitions are summed event by event (:func:`apps.core.sparse_ops.sum_frames_csr`).
    """
    if isinstance(partition, CSRPartition):
        return sum_frames_csr(partition, roi=roi, should_stop=should_stop, maximum=maximum)
    c = partition.frame_size
    compiled = kernels.can_fold(partition.dtype)
    if not tile_frames:
        tile_bytes = FOLD_TILE_BYTES if compiled else SUM_TILE_BYTES
        tile_frames = tile_frames_for(c * partition.dtype.itemsize, tile_bytes=tile_bytes)
    total = np.zeros(c, dtype=np.float64)
    native = partition.dtype.newbyteorder("=")
    lowest = -np.inf if native.kind == "f" else np.iinfo(native).min
    peak = np.full(c, lowest, dtype=native) if maximum else None
    fold = kernels.Fold(total, peak) if compiled else _Fold(total, peak, partition.dtype)
    counts = [0] * kernels.FOLD_BLOCKS
    streams = None
    if isinstance(fold, kernels.Fold):
        streams = partition.tile_streams(len(counts), tile_frames=tile_frames, roi=roi)
    if streams is not None and isinstance(fold, kernels.Fold):
        folds = fold

        def visit(block: int, _first: int, tile: np.ndarray) -> None:
            folds.block(block, tile)
            counts[block] += tile.shape[0]

        _run_streams(streams, should_stop, visit)
    else:
        for _first, tile in _checked_tiles(partition, tile_frames, roi, should_stop):
            fold(tile)
            counts[0] += tile.shape[0]
    fold.finish()
    count = sum(counts)
    if peak is None:
        return total, None, count
    if count == 0:
        return total, np.full(c, -np.inf), 0
    return total, peak.astype(np.float64), count


def read_frame(partition: Partition, index: int) -> np.ndarray:
    """Frame ``index`` (global flat index inside the partition), ``sig_shape``, native dtype."""
    if not partition.start <= index < partition.stop:
        raise IndexError(f"frame {index} is not in {partition.label}")
    return np.array(partition.read(index, index + 1)).reshape(partition.sig_shape)
