"""Reading frames that are not in the page cache: ``O_DIRECT`` reads by threads ahead.

Through a memory map, a cold file is read by page faults, each waiting for the kernel's
readahead of a few MiB, and the kernels wait with it: 0.3-2 GB/s on the benchmark machine,
whose disk reads 3 GB/s with 32 MiB ``O_DIRECT`` reads. Buffered reads there varied between
0.2 and 2 GB/s (filling the page cache costs as much as the disk) (docs/performance.md).
So a partition with less than :data:`COLD_BELOW` of its bytes cached
(:func:`pagecache.estimated_fraction`), and whose tiles fit a block, is read by
:func:`direct_tiles`: :data:`READERS` threads read it in :data:`READ_BYTES` blocks with
``O_DIRECT`` (two reads in flight) into :data:`DEPTH` page-aligned buffers, reused from one
partition to the next, while the kernels compute on the block read before; the disk never waits
for the kernels.

Such a read leaves the page cache as it was: a dataset read cold is read from disk again next
time, where a memory map would have left it cached (if it fits). Data larger than the memory
gains either way; data read again and again fits the cache and is read through the map once
a first (warm-up) read put it there (``cat file > /dev/null``), or with :data:`ENABLED` off.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.pagecache import estimated_fraction
from apps.core.io.references import Pins, check_opened

#: Bytes per ``O_DIRECT`` read (one thread: 32 MiB reads 3.2 GB/s, 8 and 16 MiB 2.3 GB/s).
READ_BYTES = 32 * 2**20
#: Reads in flight at a time, each by a thread of its own (a 1 GiB cold sum, alternating:
#: one reader 0.84 of the one-thread read limit, two 0.97-1.04, three 1.01-1.10).
READERS = 2
#: Buffers per partition read (kept for the next): one the kernels compute on, one per reader.
DEPTH = 3
#: Partitions with less than this share of their pages cached are read directly (a map reads
#: the cached part at memory speed: above a quarter, or when what is cached is all a kernel
#: reads, the map is as fast or faster).
COLD_BELOW = 0.25
#: Off: cold partitions are read through the memory map like warm ones (``CORE_DIRECT_READS=0``).
ENABLED = os.environ.get("CORE_DIRECT_READS", "1") != "0"

_ALIGN = 4096
#: A block read: frames ``[lo, hi)``, the buffer holding them, their view ``(k, frame_bytes)``.
_Block = tuple[int, int, np.ndarray, np.ndarray]
_pool: list[np.ndarray] = []
_pool_lock = threading.Lock()


def open_cold(path: str, offset: int, nbytes: int, pinned: Pins | None) -> int | None:
    """An ``O_DIRECT`` descriptor of ``path`` if less than :data:`COLD_BELOW` of bytes
    ``[offset, offset + nbytes)`` are in the page cache; None if more are (a ring's span stays
    cached when the rest of its frames were paged out), the range is under a block, or the file
    system takes no ``O_DIRECT`` (tmpfs)."""
    if not ENABLED or nbytes < READ_BYTES:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # the map's reader reports it
    try:
        if estimated_fraction(fd, offset, nbytes) >= COLD_BELOW:
            return None
        direct = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        check_opened(direct, path, pinned)
    except BaseException:
        os.close(direct)
        raise
    return direct


def direct_tiles(
    fd: int,
    *,
    path: str,
    label: str,
    offset: int,
    frame_bytes: int,
    dtype: np.dtype,
    runs: Sequence[tuple[int, int]],
    tile_frames: int,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first, tile)`` for the frames of ``runs`` (``[lo, hi)`` relative to frame 0 at
    byte ``offset``), tiles of at most ``tile_frames`` frames ``(k, frame_bytes / itemsize)``.

    Reads ``fd`` (``O_DIRECT``, closed at the end) on threads of their own. A tile is read-only
    and valid until the next one is asked for (the contract of ``Partition.read``).
    """
    # Blocks of whole tiles: the tiles are those a read through the map gives.
    block_frames = max(1, READ_BYTES // frame_bytes // tile_frames) * tile_frames
    blocks = [
        (lo, min(lo + block_frames, hi))
        for run_lo, hi in runs
        for lo in range(run_lo, hi, block_frames)
    ]
    reader = _Reader(fd, path, label, offset, frame_bytes, blocks, block_frames)
    try:
        for lo, hi, frames in reader:
            for t in range(lo, hi, tile_frames):
                tile = frames[t - lo : min(t + tile_frames, hi) - lo]
                yield t, tile.view(dtype).reshape(tile.shape[0], -1)
    finally:
        reader.close()


def _buffer_bytes(frames: int, frame_bytes: int) -> int:
    """A block of ``frames`` at any byte offset, widened to whole aligned pages."""
    return -(-(frames * frame_bytes + 2 * _ALIGN) // _ALIGN) * _ALIGN


class _Reader:
    """The threads reading blocks ahead into the buffers; iterating yields them in order."""

    def __init__(
        self,
        fd: int,
        path: str,
        label: str,
        offset: int,
        frame_bytes: int,
        blocks: list[tuple[int, int]],
        block_frames: int,
    ) -> None:
        self.fd, self.path, self.label = fd, path, label
        self.offset, self.frame_bytes, self.blocks = offset, frame_bytes, blocks
        size = _buffer_bytes(block_frames, frame_bytes)
        self.buffers = [_take(size) for _ in range(min(DEPTH, max(1, len(blocks))))]
        self.free: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        for buf in self.buffers:
            self.free.put(buf)
        lanes = min(READERS, max(1, len(blocks)))
        self.ready: list[queue.SimpleQueue[_Block | BaseException | None]] = [
            queue.SimpleQueue() for _ in range(lanes)
        ]
        self.turn = threading.Condition()
        self.next_block = 0
        self.stopped = False
        self.threads = [
            threading.Thread(target=self._read_all, args=(j,), name="direct-read", daemon=True)
            for j in range(lanes)
        ]
        for t in self.threads:
            t.start()

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        held: np.ndarray | None = None
        for i in range(len(self.blocks)):
            item = self.ready[i % len(self.ready)].get()
            if held is not None:
                self.free.put(held)  # the consumer asked for the next block
                held = None
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            lo, hi, held, frames = item
            yield lo, hi, frames

    def _read_all(self, lane: int) -> None:
        """Read blocks ``lane``, ``lane + READERS``, ... (each lane in turn takes a free buffer:
        the lanes keep :data:`READERS` reads in flight)."""
        try:
            for k in range(lane, len(self.blocks), len(self.ready)):
                lo, hi = self.blocks[k]
                with self.turn:  # buffers go to the blocks in order, or a lane could starve
                    while self.next_block != k and not self.stopped:
                        self.turn.wait()
                    buf = None if self.stopped else self.free.get()
                    self.next_block += 1
                    self.turn.notify_all()
                if buf is None or self.stopped:
                    return
                self.ready[lane].put((lo, hi, buf, self._read(buf, lo, hi)))
        except BaseException as exc:  # handed to the consumer
            self.ready[lane].put(exc)

    def _read(self, buf: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Frames ``[lo, hi)`` as a read-only byte view ``(k, frame_bytes)`` into ``buf``."""
        start = self.offset + lo * self.frame_bytes
        stop = self.offset + hi * self.frame_bytes
        first = start - start % _ALIGN
        want = -(-(stop - first) // _ALIGN) * _ALIGN
        view = buf.data[:want]
        got = 0
        try:
            while got < stop - first:
                n = os.preadv(self.fd, [view[got:]], first + got)
                if n <= 0:
                    break
                got += n
        except OSError as exc:
            raise DataSetError(f"{self.path}: cannot read {self.label}: {exc.strerror}.") from exc
        if got < stop - first:
            raise DataSetError(
                f"{self.path}: file is too short for {self.label}: it ends at byte {first + got}, "
                f"{stop} are needed. Was it truncated or overwritten?"
            )
        frames = buf[start - first : stop - first].reshape(hi - lo, self.frame_bytes)
        frames.flags.writeable = False  # as a map's tiles are (numba types them apart)
        return frames

    def close(self) -> None:
        # A reader whose turn it is waits for a free buffer holding ``turn``: wake it with a
        # None before taking ``turn`` (a consumer that stopped early, its tiles cancelled or
        # failed, holds no buffer back; taking ``turn`` first deadlocked).
        self.stopped = True
        for _ in self.threads:
            self.free.put(None)
        with self.turn:
            self.turn.notify_all()
        for t in self.threads:
            t.join()
        os.close(self.fd)
        for buf in self.buffers:
            _give(buf)


def _take(size: int) -> np.ndarray:
    """A page-aligned byte buffer of ``size`` bytes, from the pool if one is there."""
    with _pool_lock:
        for i, buf in enumerate(_pool):
            if buf.size == size:
                return _pool.pop(i)
    raw = np.empty(size + _ALIGN, dtype=np.uint8)
    skip = (-raw.ctypes.data) % _ALIGN
    return raw[skip : skip + size]


def _give(buf: np.ndarray) -> None:
    """Keep ``buf`` for the next partition (at most :data:`DEPTH` buffers per process)."""
    with _pool_lock:
        _pool.append(buf)
        del _pool[:-DEPTH]
