"""Compressed HDF5 datasets chunked in whole frames, decoded by the Core on all its cores.

h5py reads a compressed dataset one hyperslab at a time and decodes its chunks on one thread,
holding the GIL. Here the chunk index is read once (``chunk_iter``: the byte offset and
stored size of every chunk, cached per process for the file as it is), and each tile of
frames is decoded straight from a memory map of the file by a few threads, each calling the
codec (:mod:`apps.core.io.h5codecs`) with the GIL released, into a buffer the partition
reuses for every tile; the kernels then read the frames while they are still in cache.

Taken: one filter of :func:`apps.core.io.h5codecs.codec_for` (bitshuffle/LZ4, LZ4, gzip),
chunks of whole frames whose scan box is a run of frames in flat order (one frame, several
frames along the last scan axis, or whole trailing scan axes), every chunk allocated and none
with a skipped filter. Anything else returns None from :func:`compressed_chunks` and is read
through h5py as before (chunks that split frames, shuffle + gzip, zstd, ...).
"""

from __future__ import annotations

import bisect
import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from apps.core import kernels
from apps.core.errors import DataSetError
from apps.core.io import mapping
from apps.core.io.base import Partition, roi_runs
from apps.core.io.h5codecs import ChunkDecoder, Codec, codec_for
from apps.core.io.mapping import file_map, require_size

#: Frames decoded per tile, at most: about the second-level caches of two cores.
DECODED_BYTES = 4 * 2**20
#: Frames decoded per tile of one stream (:meth:`CompressedChunkPartition.tile_streams`), at
#: most: one core's second-level cache. Smaller tiles measured slower (the kernels' work per
#: call: the fold flushes its running sums after each).
STREAM_BYTES = 2 * 2**20
#: Decoded bytes of a stream between two checks of the file's size and releases of its map.
STREAM_BATCH_BYTES = 16 * 2**20


@dataclass(frozen=True)
class ChunkIndex:
    """Chunk ``i`` holds frames ``[first[i], first[i+1])`` (the last up to ``n_frames``),
    stored as ``size[i]`` bytes at ``offset[i]``; decoded, each is ``frames`` frames."""

    codec: Codec
    frames: int
    first: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    n_frames: int

    def shifted(self, by: int) -> ChunkIndex:
        """The same chunks with frames numbered from ``by`` (a file's place in a sequence)."""
        return ChunkIndex(
            self.codec, self.frames, self.first + by, self.offset, self.size, self.n_frames + by
        )

    def between(self, start: int, stop: int) -> ChunkIndex:
        """The chunks that hold any of frames ``[start, stop)``."""
        lo = int(np.searchsorted(self.first, start, side="right")) - 1
        hi = int(np.searchsorted(self.first, stop, side="left"))
        end = self.first[hi] if hi < len(self.first) else self.n_frames
        return ChunkIndex(
            self.codec,
            self.frames,
            self.first[lo:hi],
            self.offset[lo:hi],
            self.size[lo:hi],
            int(end),
        )

    def ends(self) -> np.ndarray:
        return np.append(self.first[1:], self.n_frames)


def filters_of(dset: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    """The dataset's filter pipeline as ``[(filter id, cd_values), ...]``."""
    plist = dset.id.get_create_plist()
    return [plist.get_filter(i)[:3:2] for i in range(plist.get_nfilters())]


def run_box(nav: tuple[int, ...], box: tuple[int, ...]) -> bool:
    """Whether every chunk of scan box ``box`` in scan ``nav`` is one run of frames in flat
    (C) order: ones, then one axis of any length, then whole axes."""
    axes = [i for i, c in enumerate(box) if c != 1]
    return not axes or all(box[i] >= nav[i] for i in range(axes[0] + 1, len(nav)))


def compressed_chunks(dset: h5py.Dataset) -> ChunkIndex | None:
    """The chunk index of a compressed dataset the Core decodes itself, else None."""
    chunks = dset.chunks
    if chunks is None or dset.is_virtual or dset.external or dset.ndim < 3:
        return None
    if tuple(chunks[-2:]) != tuple(dset.shape[-2:]) or not hasattr(dset.id, "chunk_iter"):
        return None
    if not dset.dtype.isnative or codec_for(filters_of(dset), dset.dtype.itemsize) is None:
        return None
    if not run_box(dset.shape[:-2], chunks[:-2]):
        return None
    st = os.stat(dset.file.filename)
    return _index(dset.file.filename, dset.name, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _index(path: str, name: str, size: int, mtime_ns: int) -> ChunkIndex | None:
    with h5py.File(path, "r") as h5file:
        dset = h5file[name]
        nav, box = dset.shape[:-2], dset.chunks[:-2]
        codec = codec_for(filters_of(dset), dset.dtype.itemsize)
        found: list[tuple[int, int, int]] = []
        skipped = [False]

        def visit(info: Any) -> None:
            if info.filter_mask or info.byte_offset is None:
                skipped[0] = True
                return
            first = int(np.ravel_multi_index(info.chunk_offset[:-2], nav))
            found.append((first, info.byte_offset, info.size))

        dset.id.chunk_iter(visit)
    grid = math.prod(-(-n // c) for n, c in zip(nav, box, strict=True))
    if skipped[0] or len(found) != grid or codec is None:
        return None
    table = np.array(sorted(found), dtype=np.int64).reshape(-1, 3)
    if int((table[:, 1] + table[:, 2]).max()) > size:
        return None
    first, offset, stored = (np.ascontiguousarray(table[:, i]) for i in range(3))
    for column in (first, offset, stored):
        column.setflags(write=False)
    return ChunkIndex(codec, math.prod(box), first, offset, stored, math.prod(nav))


def aligned_bytes(nbytes: int) -> np.ndarray:
    """``nbytes`` uninitialised bytes starting on a page boundary."""
    from apps.core.ops import aligned_empty  # ops reads through apps.core.io: imported late

    return aligned_empty((nbytes,), np.dtype(np.uint8))


class CompressedChunkPartition(Partition):
    """Frames ``[start, stop)`` of the chunks ``chunks`` in file ``path``, decoded by the
    Core. :meth:`read` returns a new array; :meth:`tiles` decodes into one reused buffer."""

    def __init__(self, *, path: str, chunks: ChunkIndex, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.chunks = chunks.between(self.start, self.stop)

    @property
    def chunk_bytes(self) -> int:
        return self.chunks.frames * self.frame_size * self.dtype.itemsize

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        out = np.empty((stop - start, self.frame_size), dtype=self.dtype)
        self.decode_into(start, stop, out)
        return out

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """As :meth:`Partition.tiles`, but tiles end at chunk edges, so a chunk is decoded
        once, straight into the tile (a chunk larger than a tile is decoded whole and handed
        out in tiles)."""
        if tile_frames < 1 or (roi is not None and np.shape(roi) != (self.n_frames,)):
            yield from super().tiles(tile_frames=tile_frames, roi=roi)  # raises the error
            return
        per_chunk = self.chunks.frames
        fb = self.frame_size * self.dtype.itemsize
        # Decoded frames are read while in cache: at most DECODED_BYTES however large the
        # tiles asked for (views of a map make 256 MiB tiles free; decoded ones are not).
        wanted = min(tile_frames, max(1, DECODED_BYTES // fb))
        step = max(1, wanted // per_chunk) * per_chunk
        buffer = self.__dict__.get("_buffer")
        if buffer is None or len(buffer) < step * fb:
            buffer = self._buffer = aligned_bytes(step * fb)
        runs = [(0, self.n_frames)] if roi is None else roi_runs(roi)
        edges = np.append(self.chunks.first, self.chunks.n_frames)
        for run_lo, run_hi in runs:
            lo = self.start + run_lo
            while lo < self.start + run_hi:
                hi = self._tile_end(edges, lo, step, self.start + run_hi)
                self.decode_into(lo, hi, buffer[: (hi - lo) * fb])
                frames = buffer[: (hi - lo) * fb].view(self.dtype).reshape(hi - lo, -1)
                for a in range(0, hi - lo, wanted):  # chunks larger than a tile
                    yield lo + a, frames[a : a + wanted]
                self.release(lo, hi)
                lo = hi

    def tile_streams(
        self, count: int, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> list[Iterator[tuple[int, np.ndarray]]]:
        """``count`` iterators of tiles ``(first, (k, c))`` that together cover the frames
        (inside ``roi``) once, each over its own run of whole chunks, decoding on the thread
        that iterates it into a buffer of its own of at most :data:`STREAM_BYTES`: one thread
        per stream decodes a few frames and hands them to the kernel while they are still in
        that core's cache, with no hand-off between threads per tile."""
        if tile_frames < 1 or (roi is not None and np.shape(roi) != (self.n_frames,)):
            raise ValueError(
                f"{self.label}: tiles need tile_frames >= 1 and a roi of {self.n_frames} flags"
            )
        edges = np.append(self.chunks.first, self.chunks.n_frames)
        cuts = [int(edges[len(self.chunks.first) * i // count]) for i in range(count)]
        cuts = [self.start] + [min(max(c, self.start), self.stop) for c in cuts[1:]]
        cuts.append(self.stop)
        return [self._stream(cuts[s], cuts[s + 1], tile_frames, roi) for s in range(count)]

    def _stream(
        self, begin: int, end: int, tile_frames: int, roi: np.ndarray | None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Tiles of frames ``[begin, end)`` (inside ``roi``) decoded on the calling thread. The
        chunks are checked once, and their index taken as lists once: the work per tile is the
        decoding, a ``stat`` of the file (a truncated file must not be touched) and little
        else, so tiles of a few frames cost no more than large ones."""
        part = self.chunks.between(begin, end)
        if begin >= end or not len(part.first):
            return
        fb = self.frame_size * self.dtype.itemsize
        wanted = min(tile_frames, max(1, STREAM_BYTES // fb))
        step = max(1, wanted // part.frames) * part.frames
        buffer, own = aligned_bytes(step * fb), aligned_bytes(self.chunk_bytes)
        src = self._map()
        require_size(self.path, int((part.offset + part.size).max()), self.label)
        self._check_chunks(src, part)
        decode = ChunkDecoder(part.codec, self.chunk_bytes)
        first, ends = part.first.tolist(), part.ends().tolist()
        offset, size = part.offset.tolist(), part.size.tolist()
        tiles = self._stream_tiles(begin, end, step, roi, first, ends)
        # The file's size is checked and the map released once per batch of tiles, not per
        # tile: each costs more than decoding a frame (measured: docs/performance.md).
        batch = max(1, STREAM_BATCH_BYTES // (step * fb))
        for b in range(0, len(tiles), batch):
            group = tiles[b : b + batch]
            last = group[-1][3] - 1
            require_size(self.path, offset[last] + size[last], self.label)
            for lo, hi, i, j in group:
                for c in range(i, j):
                    at = (offset[c], size[c])
                    self._decode_chunk(decode, src, at, (first[c], ends[c]), (lo, hi), buffer, own)
                frames = buffer[: (hi - lo) * fb].view(self.dtype).reshape(hi - lo, -1)
                for a in range(0, hi - lo, wanted):  # chunks larger than a tile
                    yield lo + a, frames[a : a + wanted]
            self.release(group[0][0], group[-1][1])

    def _stream_tiles(
        self,
        begin: int,
        end: int,
        step: int,
        roi: np.ndarray | None,
        first: list[int],
        ends: list[int],
    ) -> list[tuple[int, int, int, int]]:
        """Tiles ``(lo, hi, i, j)`` of frames ``[begin, end)`` inside ``roi``: frames
        ``[lo, hi)``, at most ``step``, in chunks ``i`` to ``j - 1`` of ``first``/``ends``."""
        tiles = []
        runs = [(0, self.n_frames)] if roi is None else roi_runs(roi)
        for run_lo, run_hi in runs:
            lo, top = max(self.start + run_lo, begin), min(self.start + run_hi, end)
            i = bisect.bisect_right(first, lo) - 1
            while lo < top:
                hi, j = lo, i
                while j < len(first) and (j == i or ends[j] - lo <= step) and hi < top:
                    hi = min(ends[j], top)
                    j += 1
                tiles.append((lo, hi, i, j))
                lo, i = hi, (j - 1 if ends[j - 1] > hi else j)
        return tiles

    def _decode_chunk(
        self,
        decode: ChunkDecoder,
        src: np.ndarray,
        at: tuple[int, int],
        frames: tuple[int, int],
        wanted: tuple[int, int],
        out: np.ndarray,
        own: np.ndarray,
    ) -> None:
        """Frames ``wanted`` (``[start, stop)``) of the chunk of frames ``frames`` stored at
        ``at`` (offset, size) into ``out`` (bytes from frame ``start``), through ``own`` (one
        chunk's bytes) unless the chunk is wholly wanted."""
        (first, end), (start, stop) = frames, wanted
        fb = self.frame_size * self.dtype.itemsize
        # A chunk at the edge of the scan is stored full size: padding frames follow.
        whole = start <= first and first + self.chunks.frames == end <= stop
        dst = out[(first - start) * fb :] if whole else own
        failed = decode(src, at[0], at[1], dst.ctypes.data)
        if failed:
            raise DataSetError(
                f"{self.path}: cannot read {self.label}: the chunk of frames "
                f"{first}-{end - 1} is damaged: {failed}."
            )
        if not whole:
            lo, hi = max(first, start), min(end, stop)
            out[(lo - start) * fb : (hi - start) * fb] = own[(lo - first) * fb : (hi - first) * fb]

    @staticmethod
    def _tile_end(edges: np.ndarray, lo: int, step: int, limit: int) -> int:
        """The last chunk edge at most ``step`` frames after ``lo`` (or ``lo + step``)."""
        at = int(np.searchsorted(edges, lo + step, side="right")) - 1
        edge = int(edges[at]) if at >= 0 and edges[at] > lo else lo + step
        return min(edge, limit)

    def decode_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Frames ``[start, stop)`` into ``out`` (C-contiguous, exactly their bytes), the
        chunks split over threads."""
        self._check_range(start, stop)
        out = out.reshape(-1).view(np.uint8)
        part = self.chunks.between(start, stop)
        need = int((part.offset + part.size).max())
        require_size(self.path, need, self.label)
        src = self._map()
        self._check_chunks(src, part)
        ends = part.ends()
        count = max(1, min(kernels.thread_count(), len(part.first)))
        edges = [len(part.first) * i // count for i in range(count + 1)]
        scratch = self._scratch(count)

        def work(t: int) -> None:
            decode = ChunkDecoder(part.codec, self.chunk_bytes)
            for i in range(edges[t], edges[t + 1]):
                at = (int(part.offset[i]), int(part.size[i]))
                frames = (int(part.first[i]), int(ends[i]))
                self._decode_chunk(decode, src, at, frames, (start, stop), out, scratch[t])

        if count == 1:
            work(0)
            return
        pool = kernels.thread_pool(count)
        for future in [pool.submit(work, t) for t in range(count)]:
            future.result()

    def _check_chunks(self, src: np.ndarray, part: ChunkIndex) -> None:
        if part.codec.name != "bslz4":
            return
        from apps.core.io import h5codecs_jit

        bad = h5codecs_jit.first_bad_bslz4(
            src, part.offset, part.size, self.chunk_bytes, part.codec.itemsize
        )
        if bad >= 0:
            raise DataSetError(
                f"{self.path}: cannot read {self.label}: the chunk at byte "
                f"{int(part.offset[bad])} is damaged (its bitshuffle/LZ4 blocks do not add up "
                f"to {self.chunk_bytes} bytes in {int(part.size[bad])})."
            )

    def _scratch(self, count: int) -> list[np.ndarray]:
        """One chunk-sized buffer per thread, for chunks only partly in the frames read."""
        have: list[np.ndarray] = self.__dict__.setdefault("_scratch_buffers", [])
        while len(have) < count:
            have.append(aligned_bytes(self.chunk_bytes))
        return have

    def _map(self) -> np.ndarray:
        mapped = self.__dict__.get("_file_map")
        if mapped is None:
            mapped = self._file_map = file_map(self.path, self.pinned)
        return mapped

    def release(self, start: int, stop: int) -> None:
        if "_file_map" not in self.__dict__:
            return
        part = self.chunks.between(start, stop)
        lo, hi = int(part.offset.min()), int((part.offset + part.size).max())
        if hi - lo <= 2 * int(part.size.sum()):
            mapping.release(self.path, lo, hi - lo)
            return
        for offset, size in zip(part.offset.tolist(), part.size.tolist(), strict=True):
            mapping.release(self.path, offset, size)

    def close(self) -> None:
        self.__dict__.pop("_file_map", None)
