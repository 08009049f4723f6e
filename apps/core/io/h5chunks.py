"""Memory-mapped reads of HDF5 datasets chunked in whole uncompressed frames.

An uncompressed chunk that holds whole frames, ``(c0, ..., ck, sy, sx)``, is those frames'
bytes in C order of the chunk's scan box, as they are, somewhere in the file (edge chunks are
stored at full size too). Once the byte offset of every frame is known, frames are read
straight from a memory map of the file (a view when a tile's frames follow each other, which
is how writers lay out chunks of one frame or one scan row; a gather otherwise), with no HDF5
call per frame. The offsets come from one pass over the chunk index (``chunk_iter``), cached
per process for the file as it is (path, size, modification time). Read frames are reported
to :func:`apps.core.io.mapping.release` tile by tile, as the raw reader does, so the pages of a
file larger than memory do not pile up in a dask worker.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from apps.core.io import mapping
from apps.core.io.base import Partition, roi_runs
from apps.core.io.mapping import file_map, require_size

#: Tiles of adjacent frames this size or larger are worth reading as they lie (views, however
#: short the runs); the compiled loops and the matrix product run at full speed on them.
VIEW_MIN_BYTES = 1 << 20


def frame_chunk_offsets(dset: h5py.Dataset) -> np.ndarray | None:
    """Byte offset of every frame (flat frame order) in the file, or None when not mappable.

    Mappable: chunks of whole frames ``(c0, ..., ck, sy, sx)``, no filters, every chunk
    allocated and stored at its full size, data in the file itself (not virtual or external).
    """
    chunks = dset.chunks
    if chunks is None or dset.is_virtual or dset.external or dset.ndim < 3:
        return None
    if tuple(chunks[-2:]) != tuple(dset.shape[-2:]):
        return None
    if dset.id.get_create_plist().get_nfilters() or not hasattr(dset.id, "chunk_iter"):
        return None
    st = os.stat(dset.file.filename)
    return _offsets(dset.file.filename, dset.name, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _offsets(path: str, name: str, size: int, mtime_ns: int) -> np.ndarray | None:
    with h5py.File(path, "r") as h5file:
        dset = h5file[name]
        nav, box = dset.shape[:-2], dset.chunks[:-2]
        frame_bytes = math.prod(dset.shape[-2:]) * dset.dtype.itemsize
        chunk_bytes = math.prod(box) * frame_bytes
        grid = tuple(-(-n // c) for n, c in zip(nav, box, strict=True))
        chunk_at = np.full(grid, -1, dtype=np.int64)
        ok = [True]

        def visit(info: Any) -> None:
            if info.filter_mask or info.size != chunk_bytes or info.byte_offset is None:
                ok[0] = False
                return
            at = tuple(o // c for o, c in zip(info.chunk_offset[:-2], box, strict=True))
            chunk_at[at] = info.byte_offset

        dset.id.chunk_iter(visit)
    if not ok[0] or (chunk_at < 0).any():
        return None
    # A frame's offset: its chunk's, plus its place in the chunk's scan box (C order).
    index = [np.arange(n) for n in nav]
    box_strides = np.cumprod((1, *box[:0:-1]))[::-1].tolist()
    chunk = chunk_at[np.ix_(*[i // c for i, c in zip(index, box, strict=True)])]
    place = np.ix_(*[(i % c) * s for i, c, s in zip(index, box, box_strides, strict=True)])
    flat = (chunk + sum(place) * frame_bytes).reshape(-1)
    if flat.max() + frame_bytes > size:
        return None
    flat.setflags(write=False)
    return flat


def _released_ranges(offsets: np.ndarray, frame_bytes: int) -> Iterator[tuple[int, int]]:
    """``(offset, nbytes)`` byte ranges of the file that hold the frames at ``offsets``.

    Runs of frames adjacent in the file are one range; a gap no longer than the run before it
    joins the two (a tile of a scan row reads a slice of every chunk in a row of small chunks:
    one range per tile instead of one per chunk, counting at most twice the bytes read).
    """
    if not len(offsets):
        return
    first = int(offsets.min())
    if int(offsets.max()) - first == (len(offsets) - 1) * frame_bytes:  # distinct: one run
        yield first, len(offsets) * frame_bytes
        return
    ordered = np.sort(offsets)
    edges = np.asarray(_run_edges(ordered, frame_bytes))
    starts = ordered[edges[:-1]]
    ends = ordered[edges[1:] - 1] + frame_bytes
    joined = starts[1:] - ends[:-1] <= ends[:-1] - starts[:-1]
    keep = np.flatnonzero(~joined) + 1  # ranges that start anew
    for lo, hi in itertools.pairwise([0, *keep.tolist(), len(starts)]):
        yield int(starts[lo]), int(ends[hi - 1] - starts[lo])


def _run_edges(offsets: np.ndarray, frame_bytes: int) -> list[int]:
    """``[0, ..., len(offsets)]``: where runs of frames adjacent in the file start and end."""
    cuts = np.flatnonzero(np.diff(offsets) != frame_bytes) + 1
    return [0, *cuts.tolist(), len(offsets)]


class ChunkMapPartition(Partition):
    """Frames ``[start, stop)`` that sit at byte ``offsets`` (one per frame) in ``path``."""

    def __init__(self, *, path: str, offsets: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.offsets = offsets
        self.need_bytes = int(offsets.max()) + self.frame_size * self.dtype.itemsize

    def _map(self) -> np.ndarray:
        mapped = self.__dict__.get("_file_map")
        if mapped is None:
            mapped = file_map(self.path, self.pinned)
            self._file_map = mapped
        return mapped

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        require_size(self.path, self.need_bytes, self.label)
        fb = self.frame_size * self.dtype.itemsize
        offs = self.offsets[start - self.start : stop - self.start]
        mapped = self._map()
        k = stop - start
        edges = _run_edges(offs, fb)
        if k and len(edges) == 2:  # one run of adjacent frames: a view of the map
            first = int(offs[0])
            return mapped[first : first + k * fb].view(self.dtype).reshape(k, self.frame_size)
        out = np.empty((k, self.frame_size), dtype=self.dtype)
        raw = out.reshape(-1).view(np.uint8)
        for lo, hi in itertools.pairwise(edges):  # one copy per run of adjacent frames
            first = int(offs[lo])
            raw[lo * fb : hi * fb] = mapped[first : first + (hi - lo) * fb]
        return out

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """As :meth:`Partition.tiles`, but tiles are cut at gaps when runs are long.

        Where runs of adjacent frames are long on average (half a tile, or half of
        :data:`VIEW_MIN_BYTES`: chunks of one frame or of scan rows, written in order), a tile
        never spans two runs, so every tile is a view of the map. Shorter runs (small chunk
        boxes of small frames) are gathered into full tiles instead, one copy per run: many
        small tiles would cost more than the copy.
        """
        if tile_frames < 1 or (roi is not None and np.shape(roi) != (self.n_frames,)):
            yield from super().tiles(tile_frames=tile_frames, roi=roi)  # raises the error
            return
        fb = self.frame_size * self.dtype.itemsize
        adjacent = _run_edges(self.offsets, fb)
        long_run = min(tile_frames, max(1, VIEW_MIN_BYTES // fb))
        if self.n_frames < (len(adjacent) - 1) * long_run / 2:
            yield from super().tiles(tile_frames=tile_frames, roi=roi)
            return
        wanted = np.ones(self.n_frames, dtype=bool) if roi is None else np.asarray(roi, bool)
        for lo, hi in itertools.pairwise(adjacent):
            for run_lo, run_hi in roi_runs(wanted[lo:hi]):
                for a in range(lo + run_lo, lo + run_hi, tile_frames):
                    b = min(a + tile_frames, lo + run_hi)
                    yield self.start + a, self.read(self.start + a, self.start + b)
                    self.release(self.start + a, self.start + b)

    def release(self, start: int, stop: int) -> None:
        if "_file_map" in self.__dict__:
            offs = self.offsets[start - self.start : stop - self.start]
            for offset, nbytes in _released_ranges(offs, self.frame_size * self.dtype.itemsize):
                mapping.release(self.path, offset, nbytes)

    def close(self) -> None:
        self.__dict__.pop("_file_map", None)
