"""The DataSet / Partition interface every format implements.

A dataset is ``n = prod(nav_shape)`` frames of ``sig_shape`` pixels. It is split into
partitions, contiguous ranges ``[start, stop)`` of flattened frames, the unit of distribution.
A partition is small and picklable (it holds paths and offsets, never open files) so it can be
sent to a dask worker, which then streams it tile by tile.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io import mapping
from apps.core.io.references import AllowedFiles, Pins, Reference, check_files

DEFAULT_PARTITION_BYTES = 256 * 2**20
DEFAULT_TILE_BYTES = 4 * 2**20

SUPPORTED_KINDS = {"i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8"}


def check_dtype(dtype: Any, *, source: str) -> np.dtype:
    """Return ``dtype`` as a numpy dtype, or raise naming ``source`` if it is not supported."""
    if dtype is None:
        # np.dtype(None) is float64: a missing dtype must not silently become one.
        raise DataSetError(f'{source}: dtype is missing; give a numpy dtype such as "<u2".')
    if isinstance(dtype, str) and len(dtype) > 32:  # every supported dtype has a short name
        raise DataSetError(f"{source}: unknown dtype {dtype[:32]!r}….")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as exc:  # numpy parses some strings as Python
        raise DataSetError(f"{source}: unknown dtype {dtype!r:.60}.") from exc
    if f"{dt.kind}{dt.itemsize}" not in SUPPORTED_KINDS:
        raise DataSetError(
            f"{source}: dtype {dt.str!r} is not supported; expected one of int8, uint8, int16, "
            "uint16, int32, uint32, float32 or float64 (either byte order)."
        )
    return dt


def check_shape(shape: Any, *, name: str, source: str, ndim: int | None = None) -> tuple[int, ...]:
    """Validate a shape given as a sequence of positive integers."""
    try:
        dims = tuple(int(d) for d in shape)
        ok = all(float(d) == int(d) for d in shape)
    except (TypeError, ValueError):
        dims, ok = (), False
    if not ok or not dims or any(d <= 0 for d in dims) or (ndim is not None and len(dims) != ndim):
        expected = f"{ndim} positive integers" if ndim else "positive integers"
        raise DataSetError(f"{source}: {name} must be {expected}, got {shape!r}.")
    return dims


def check_params(params: dict[str, Any], allowed: Sequence[str], *, path: str, kind: str) -> None:
    """Raise naming the ``kind`` of file and the parameters it takes if ``params`` has others."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise DataSetError(
            f"{path}: unknown {kind} parameters {unknown}; expected {', '.join(allowed)}."
        )


def partition_ranges(
    n_frames: int,
    frame_bytes: int,
    *,
    count: int | None = None,
    target_bytes: int = DEFAULT_PARTITION_BYTES,
    min_count: int = 1,
) -> list[tuple[int, int]]:
    """Split ``n_frames`` into contiguous, near-equal ``(start, stop)`` ranges.

    Without ``count`` the number of partitions follows ``target_bytes`` per partition, and is at
    least ``min_count`` (typically the number of workers) where there are enough frames.
    """
    if count is None:
        count = max(min_count, math.ceil(n_frames * frame_bytes / max(1, target_bytes)))
    count = max(1, min(int(count), n_frames))
    # Integer arithmetic: exact for any n_frames, and sizes differ by at most one frame.
    edges = [i * n_frames // count for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def tile_frames_for(frame_bytes: int, *, tile_bytes: int = DEFAULT_TILE_BYTES) -> int:
    """Number of whole frames in a tile of about ``tile_bytes``."""
    return max(1, tile_bytes // max(1, frame_bytes))


def roi_runs(roi: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` runs of True in a 1-d boolean array."""
    flags = np.concatenate(([False], np.asarray(roi, dtype=bool), [False]))
    changes = np.flatnonzero(flags[1:] != flags[:-1])
    return list(zip(changes[0::2].tolist(), changes[1::2].tolist(), strict=True))


class Partition(ABC):
    """Frames ``[start, stop)`` of a dataset, readable on any worker that can reach the file.

    Subclasses implement :meth:`read`; the tile iterator is shared. ``pinned`` (set by
    :meth:`pin`) holds the identities of the files the dataset's check saw: a partition opens
    its files by name, often much later and on another host, and reads only those.
    """

    pinned: Pins | None = None

    def __init__(
        self,
        *,
        index: int,
        start: int,
        stop: int,
        sig_shape: Sequence[int],
        dtype: Any,
        nodes: Sequence[str] = (),
    ) -> None:
        self.index = index
        self.start = start
        self.stop = stop
        self.sig_shape = tuple(int(d) for d in sig_shape)
        self.dtype = np.dtype(dtype)
        self.nodes = tuple(nodes)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.index} frames [{self.start}, {self.stop})>"

    def frames(self) -> dict[str, Any]:
        """The arguments that give a partition of these frames read another way (a reader that
        finds out how the file stores them hands the reading on to it)."""
        return {
            "index": self.index,
            "start": self.start,
            "stop": self.stop,
            "sig_shape": self.sig_shape,
            "dtype": self.dtype,
            "nodes": self.nodes,
        }

    def pin(self, pinned: Pins | None) -> Partition:
        """Read only the files with these identities (see ``references.check_opened``)."""
        self.pinned = pinned
        return self

    def __getstate__(self) -> dict[str, Any]:
        # Open handles and memory maps are per process: never pickle them.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @property
    def n_frames(self) -> int:
        return self.stop - self.start

    @property
    def frame_size(self) -> int:
        return math.prod(self.sig_shape)

    @property
    def nbytes(self) -> int:
        return self.n_frames * self.frame_size * self.dtype.itemsize

    @property
    def label(self) -> str:
        """How error messages name this partition."""
        return f"partition {self.index} (frames {self.start}-{self.stop - 1})"

    @abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` (global indices inside this partition) as ``(k, c)``.

        The result has ``self.dtype`` and may be a read-only view of a memory map; callers
        must not write to it or keep it beyond the next call.
        """

    def _check_range(self, start: int, stop: int) -> None:
        if not self.start <= start <= stop <= self.stop:
            raise ValueError(f"frames [{start}, {stop}) are outside {self.label}.")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open files or maps (the next read reopens them)."""

    def locate(self, worker: str | None) -> None:  # noqa: B027 - optional hook
        """Find this partition's data on dask worker ``worker`` (None: in this process).

        Node-local partitions raise DataSetError when ``worker`` does not hold them.
        """

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first, tile)``: ``tile`` is frames ``[first, first + k)`` as ``(k, c)``.

        ``roi`` is a boolean array of length ``n_frames`` (this partition's frames); frames where
        it is False are not read.
        """
        runs, tile_frames = self._tile_runs(tile_frames, roi)
        for run_start, run_stop in runs:
            for lo in range(run_start, run_stop, tile_frames):
                hi = min(lo + tile_frames, run_stop)
                yield self.start + lo, self.read(self.start + lo, self.start + hi)
                # the consumer asked for the next tile: it is done with this one
                self.release(self.start + lo, self.start + hi)

    def tile_streams(
        self, count: int, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> list[Iterator[tuple[int, np.ndarray]]] | None:
        """``count`` iterators of tiles (as :meth:`tiles`) that together cover the frames once
        and can be iterated on as many threads side by side, or None: this partition has none
        (compressed chunks have: :mod:`apps.core.io.h5compressed`)."""
        return None

    def _tile_runs(
        self, tile_frames: int, roi: np.ndarray | None
    ) -> tuple[list[tuple[int, int]], int]:
        """The runs ``[lo, hi)`` of frames to read (relative to :attr:`start`) and the frames
        per tile, checked."""
        if tile_frames < 1:
            raise ValueError(f"tile_frames must be at least 1, got {tile_frames}.")
        if roi is not None and np.shape(roi) != (self.n_frames,):
            raise ValueError(
                f"roi for {self.label} must be a boolean array of shape ({self.n_frames},), "
                f"got shape {np.shape(roi)}."
            )
        runs = [(0, self.n_frames)] if roi is None else roi_runs(roi)
        # A tile's pages stay mapped in until it is released: at most a quarter of the bytes
        # a process keeps mapped in (see apps.core.io.mapping; only binds on small workers).
        frame_bytes = self.frame_size * self.dtype.itemsize
        tile_frames = max(1, min(tile_frames, mapping.RESIDENT_BYTES // 4 // max(frame_bytes, 1)))
        return runs, tile_frames

    def release(self, start: int, stop: int) -> None:  # noqa: B027 - optional hook
        """Frames ``[start, stop)`` were read and are done with: a reader of a memory map
        reports them to :func:`apps.core.io.mapping.release`, which keeps the process's
        resident size bounded whatever the size of the file."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the catalogue."""
        return {
            "index": self.index,
            "start": self.start,
            "stop": self.stop,
            "nodes": list(self.nodes),
        }


class DataSet(ABC):
    """A 4D-STEM dataset: ``nav_shape`` scan positions of ``sig_shape`` detector frames.

    ``nav_shape`` has any number (at least one) of scan axes, kept as the file or the user
    gives them; frames are numbered in C order over it (the flat index partitions use).
    """

    format: ClassVar[str]
    #: The files the check of :func:`apps.core.io.open_dataset` saw (None: opened unchecked);
    #: every partition gets them.
    pinned: Pins | None = None
    #: Every file that check declared and allowed (empty when opened unchecked).
    checked: tuple[Reference, ...] = ()

    def __init__(
        self, *, path: str, nav_shape: Sequence[int], sig_shape: Sequence[int], dtype: Any
    ) -> None:
        self.path = str(path)
        self.nav_shape = check_shape(nav_shape, name="nav_shape", source=self.path)
        self.sig_shape = check_shape(sig_shape, name="sig_shape", source=self.path, ndim=2)
        self.dtype = check_dtype(dtype, source=self.path)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.path} nav={self.nav_shape} sig={self.sig_shape} "
            f"{self.dtype.str}>"
        )

    @property
    def n_frames(self) -> int:
        return math.prod(self.nav_shape)

    @property
    def frame_size(self) -> int:
        return math.prod(self.sig_shape)

    @property
    def frame_bytes(self) -> int:
        return self.frame_size * self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.n_frames * self.frame_bytes

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Format-specific parameters that, with the path, reopen this dataset."""

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """Every file that opening ``path`` with ``params`` and reading it will open, each
        checked with ``allowed`` (ForbiddenReference for one it refuses) before it is read.

        Formats whose files name other files override this; by default it is ``path`` alone.
        """
        return check_files([Reference(path)], allowed)

    def partitions(
        self,
        *,
        count: int | None = None,
        target_bytes: int = DEFAULT_PARTITION_BYTES,
        min_count: int = 1,
    ) -> list[Partition]:
        """Split the dataset into partitions (see :func:`partition_ranges`)."""
        ranges = partition_ranges(
            self.n_frames,
            self.frame_bytes,
            count=count,
            target_bytes=target_bytes,
            min_count=min_count,
        )
        return [
            self.make_partition(i, lo, hi).pin(self.pinned) for i, (lo, hi) in enumerate(ranges)
        ]

    def frames(self, index: int, start: int, stop: int) -> dict[str, Any]:
        """The arguments every partition class takes for partition ``index`` of frames
        ``[start, stop)``; a format adds where its file keeps them."""
        return {
            "index": index,
            "start": start,
            "stop": stop,
            "sig_shape": self.sig_shape,
            "dtype": self.dtype,
        }

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        """Partition ``index`` of frames ``[start, stop)``; formats that split by frame ranges
        implement this, formats with their own layout override :meth:`partitions`."""
        raise NotImplementedError(f"{type(self).__name__} does not build partitions by range")

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: everything the catalogue stores about the data."""
        return {
            "format": self.format,
            "path": self.path,
            "nav_shape": list(self.nav_shape),
            "sig_shape": list(self.sig_shape),
            "dtype": self.dtype.str,
            "params": self.params(),
        }
