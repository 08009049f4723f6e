"""A partition of frames stored back to back in one file, read through a memory map.

Raw files, ``.npy`` files and contiguous HDF5 datasets all keep a partition's frames this way,
each at its own byte offset; they differ only in how they find the file and the offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from apps.core.io import direct, mapping
from apps.core.io.base import Partition
from apps.core.io.mapping import map_view, require_size


class MappedPartition(Partition):
    """Frames stored back to back in file ``path``, frame ``start`` at byte ``offset``."""

    def __init__(self, *, path: str, offset: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.offset = offset

    def _open(self) -> np.ndarray:
        mapped = self.__dict__.get("_map")
        if mapped is None:
            shape = (self.n_frames, self.frame_size)
            mapped = map_view(self.path, self.dtype, self.offset, shape, self.pinned)
            self._map = mapped
        return mapped

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        require_size(self.path, self.offset + self.nbytes, self.label)
        return self._open()[start - self.start : stop - self.start]

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Through the map, or, if the frames are mostly not in the page cache, by ``O_DIRECT``
        reads on threads ahead of the caller (:mod:`apps.core.io.direct`) if its tiles are at most
        :data:`direct.READ_BYTES`."""
        row = self.frame_size * self.dtype.itemsize
        runs, tile_frames = self._tile_runs(tile_frames, roi)
        first = runs[0][0] if runs else 0
        last = runs[-1][1] if runs else 0
        fd = None
        # The same tiles either way (a direct read's block holds whole tiles), so a partition's
        # results have the same bits whether its file was cached or not: tiles larger than a
        # block are read through the map.
        if tile_frames * row <= direct.READ_BYTES:
            require_size(self.path, self.offset + self.nbytes, self.label)
            fd = direct.open_cold(
                self.path, self.offset + first * row, (last - first) * row, self.pinned
            )
        if fd is None:
            yield from super().tiles(tile_frames=tile_frames, roi=roi)
            return
        for lo, tile in direct.direct_tiles(
            fd,
            path=self.path,
            label=self.label,
            offset=self.offset,
            frame_bytes=row,
            dtype=self.dtype,
            runs=runs,
            tile_frames=tile_frames,
        ):
            yield self.start + lo, tile

    def release(self, start: int, stop: int) -> None:
        if "_map" in self.__dict__:
            row = self.frame_size * self.dtype.itemsize
            mapping.release(
                self.path, self.offset + (start - self.start) * row, (stop - start) * row
            )

    def close(self) -> None:
        self.__dict__.pop("_map", None)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path, "offset": self.offset}
