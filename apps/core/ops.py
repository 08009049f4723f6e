"""The per-partition hot path: stream tiles, convert in cache, multiply or reduce.

Each function reads one partition exactly once, tile by tile, and never holds more than one
tile plus a reused conversion buffer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from apps.core.errors import JobCancelled
from apps.core.io.base import DEFAULT_TILE_BYTES, Partition, tile_frames_for
from apps.core.masks import MaskStack

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
        # A native tile needs no copy, even a strided one (BLAS takes the row stride).
        if tile.dtype == self.dtype:
            return tile
        out = self._buf[: tile.shape[0]]
        np.copyto(out, tile, casting="unsafe")
        return out


class _Stopper:
    """Calls ``should_stop`` before every tile, or at most every ``interval`` seconds.

    The check is made before every tile by default, so a cancelled partition stops at its next
    tile; a caller whose check is expensive (a network call) throttles it (see
    :class:`apps.core.executor.ThrottledCheck`).
    """

    def __init__(self, should_stop: StopCheck | None, interval: float = 0.0) -> None:
        self.should_stop = should_stop
        self.interval = interval
        self._next = 0.0

    def check(self) -> None:
        if self.should_stop is None:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            if self.should_stop():
                raise JobCancelled()


def _checked_tiles(
    partition: Partition, tile_frames: int, roi: np.ndarray | None, stopper: _Stopper
) -> Iterator[tuple[int, np.ndarray]]:
    """The partition's tiles, with ``should_stop`` checked before each tile is read."""
    stopper.check()
    for item in partition.tiles(tile_frames=tile_frames, roi=roi):
        yield item
        stopper.check()


def _tile_frames(partition: Partition, dtype: np.dtype, tile_frames: int | None) -> int:
    if tile_frames:
        return tile_frames
    return tile_frames_for(
        partition.frame_size * max(dtype.itemsize, partition.dtype.itemsize),
        tile_bytes=DEFAULT_TILE_BYTES,
    )


#: With few masks, one GEMV per mask over a converted, cache-resident tile beats one GEMM.
GEMV_MAX_MASKS = 4
#: Tiles that need no conversion are views of the memory map: larger tiles keep BLAS busy.
VIEW_TILE_BYTES = 16 * 2**20


def apply_masks(
    partition: Partition,
    masks: MaskStack,
    *,
    roi: np.ndarray | None = None,
    tile_frames: int | None = None,
    should_stop: StopCheck | None = None,
) -> np.ndarray:
    """``R = A . B`` for one partition.

    Only the pixels ``masks.span`` of each frame are read and converted. Returns
    ``(partition.n_frames, masks.count)`` in the compute dtype (possibly Fortran-ordered); rows
    of frames outside ``roi`` (boolean, length ``n_frames``) are NaN.
    """
    dtype = compute_dtype(partition.dtype, masks.dtype)
    lo, hi = masks.span
    width = hi - lo
    converting = partition.dtype != dtype
    if tile_frames is None:
        tile_bytes = DEFAULT_TILE_BYTES if converting else VIEW_TILE_BYTES
        tile_frames = tile_frames_for(max(width, 1) * dtype.itemsize, tile_bytes=tile_bytes)
    # Results as (m, n): each mask's row slice is contiguous, so GEMV can write in place.
    out_t = np.full((masks.count, partition.n_frames), np.nan, dtype=dtype)
    convert = _Converter(dtype, tile_frames, width)
    stopper = _Stopper(should_stop)
    gemv = converting and masks.count <= GEMV_MAX_MASKS
    weights = masks.span_rows(dtype) if gemv else masks.span_matrix(dtype)
    for first, tile in _checked_tiles(partition, tile_frames, roi, stopper):
        a = first - partition.start
        data = convert(tile[:, lo:hi])
        rows = out_t[:, a : a + data.shape[0]]
        if width == 0:
            rows[...] = 0
        elif gemv:
            for j in range(masks.count):
                np.dot(data, weights[j], out=rows[j])
        else:
            rows.T[...] = data @ weights
    return out_t.T


def sum_frames(
    partition: Partition,
    *,
    roi: np.ndarray | None = None,
    tile_frames: int | None = None,
    should_stop: StopCheck | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum (float64), maximum (float64) and count of the frames of one partition.

    Shapes are ``(c,)``; the maximum is ``-inf`` where no frame was read.
    """
    dtype = compute_dtype(partition.dtype)
    k_max = _tile_frames(partition, dtype, tile_frames)
    convert = _Converter(dtype, k_max, partition.frame_size)
    stopper = _Stopper(should_stop)
    total = np.zeros(partition.frame_size, dtype=np.float64)
    peak = np.full(partition.frame_size, -np.inf, dtype=np.float64)
    ones = np.ones(k_max, dtype=dtype)
    count = 0
    for _first, tile in _checked_tiles(partition, k_max, roi, stopper):
        data = convert(tile)
        k = data.shape[0]
        total += ones[:k] @ data
        np.maximum(peak, data.max(axis=0), out=peak)
        count += k
    return total, peak, count


def read_frame(partition: Partition, index: int) -> np.ndarray:
    """Frame ``index`` (global flat index inside the partition), ``sig_shape``, native dtype."""
    if not partition.start <= index < partition.stop:
        raise IndexError(f"frame {index} is not in {partition.label}")
    return np.array(partition.read(index, index + 1)).reshape(partition.sig_shape)
