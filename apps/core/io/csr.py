"""Electron-counted (sparse) frames stored as compressed sparse rows, one row per frame.

Three arrays hold a dataset of ``n`` frames of ``c = sy * sx`` pixels: ``indptr`` (``n + 1``
integers; frame ``i``'s events are ``indptr[i]`` to ``indptr[i + 1]``), ``indices`` (each
event's pixel, flat in the frame, C order) and ``values`` (its count). Two layouts carry them:
LiberTEM's ``raw_csr`` (a TOML descriptor naming three raw files, :mod:`apps.core.io.raw_csr`)
and an HDF5 group (:mod:`apps.core.io.hdf5_csr`).

A :class:`CSRPartition` gives its frames two ways: as CSR blocks (:meth:`CSRPartition.blocks`),
which the mask products and the sum read event by event (:mod:`apps.core.sparse_ops`), and as
dense tiles (:meth:`CSRPartition.read`) for every other analysis.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.base import DEFAULT_PARTITION_BYTES, DataSet, Partition, roi_runs

#: Events per block read at once: 4 Mi events are 32 MiB of int32 indices and float32 values.
BLOCK_EVENTS = 4 * 2**20
INDEX_KINDS = {"i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"}


class CSRBlock(NamedTuple):
    """Frames ``[first, first + k)``: ``indptr`` ``(k + 1,)`` int64 from 0, and their events,
    events ``[offset, offset + indptr[-1])`` of the file."""

    first: int
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    offset: int = 0

    @property
    def n_frames(self) -> int:
        return self.indptr.shape[0] - 1

    def native(self) -> CSRBlock:
        """This block with its arrays in native byte order (the compiled loops need it)."""
        indices, values = self.indices, self.values
        if not indices.dtype.isnative:
            indices = indices.astype(indices.dtype.newbyteorder("="))
        if not values.dtype.isnative:
            values = values.astype(values.dtype.newbyteorder("="))
        return self._replace(indices=indices, values=values)


def check_index_dtype(dtype: Any, *, name: str, source: str) -> np.dtype:
    """``dtype`` of ``indptr`` or ``indices`` as a numpy integer dtype, or DataSetError."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise DataSetError(f"{source}: {name} has unknown dtype {dtype!r:.60}.") from exc
    if f"{dt.kind}{dt.itemsize}" not in INDEX_KINDS:
        raise DataSetError(
            f"{source}: {name} must be integers (int8 to int64, signed or not), got {dt.str!r}."
        )
    return dt


def check_indptr(indptr: np.ndarray, n_events: int, *, source: str) -> None:
    """DataSetError unless ``indptr`` rises from 0 or more to at most ``n_events``."""
    if indptr.shape[0] < 2:
        raise DataSetError(f"{source}: indptr must have at least 2 entries (one frame).")
    ptr = indptr.astype(np.int64)
    if ptr[0] < 0 or ptr[-1] > n_events or (np.diff(ptr) < 0).any():
        raise DataSetError(
            f"{source}: indptr must rise from 0 to at most the {n_events} events of indices "
            f"and values; it goes from {ptr[0]} to {ptr[-1]}"
            + (" and falls somewhere." if (np.diff(ptr) < 0).any() else ".")
        )


class CSRPartition(Partition):
    """Frames ``[start, stop)`` of a CSR dataset; subclasses say where the arrays are."""

    @abstractmethod
    def pointers(self) -> np.ndarray:
        """``indptr`` of this partition's frames: ``n_frames + 1`` int64 (absolute)."""

    @abstractmethod
    def events(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """``indices`` and ``values`` of events ``[lo, hi)`` (absolute positions)."""

    def block(self, start: int, stop: int) -> CSRBlock:
        """Frames ``[start, stop)`` (global indices inside this partition) as a CSR block."""
        self._check_range(start, stop)
        ptr = self.pointers()[start - self.start : stop - self.start + 1]
        indices, values = self.events(int(ptr[0]), int(ptr[-1]))
        return CSRBlock(start, ptr - ptr[0], indices, values, int(ptr[0]))

    def blocks(self, roi: np.ndarray | None = None) -> Iterator[CSRBlock]:
        """The partition's frames (those where ``roi`` is True) in blocks of about
        :data:`BLOCK_EVENTS` events, each a run of consecutive frames."""
        ptr = self.pointers()
        runs = [(0, self.n_frames)] if roi is None else roi_runs(roi)
        for run_start, run_stop in runs:
            lo = run_start
            while lo < run_stop:
                # the last frame whose events still fit the block (at least one frame)
                limit = ptr[lo] + BLOCK_EVENTS
                hi = int(np.searchsorted(ptr[lo + 1 : run_stop + 1], limit, side="right"))
                hi = min(run_stop, lo + max(1, hi))
                block = self.block(self.start + lo, self.start + hi)
                yield block
                self.release_events(block.offset, block.offset + int(block.indptr[-1]))
                lo = hi

    def release_events(self, lo: int, hi: int) -> None:
        """Events ``[lo, hi)`` were read and are done with (see :meth:`Partition.release`)."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` densified: a new ``(k, c)`` array of ``self.dtype``."""
        from apps.core import csr_jit  # numba: imported by the first process that reads

        block = self.block(start, stop).native()
        out = np.zeros((block.n_frames, self.frame_size), dtype=self.dtype.newbyteorder("="))
        bad = csr_jit.scatter(block.indptr, block.indices, block.values, out)
        self.check_events(bad, block)
        self.release_events(block.offset, block.offset + int(block.indptr[-1]))
        return out.astype(self.dtype, copy=False)

    def check_events(self, bad: int, block: CSRBlock) -> None:
        """DataSetError if a loop over ``block`` found ``bad`` events outside the frame."""
        if bad:
            raise DataSetError(
                f"{self.source}: {bad} events of frames {block.first}-"
                f"{block.first + block.n_frames - 1} have a pixel index outside the "
                f"{self.frame_size} pixels of a {list(self.sig_shape)} frame."
            )

    @property
    def source(self) -> str:
        """How error messages name the data (the file)."""
        return str(getattr(self, "path", self.label))


class CSRDataSet(DataSet):
    """A dataset of CSR frames: partitions split by the events they hold, not by frames."""

    #: The number of events in the file (set by the subclass when it opens it).
    n_events: int = 0
    #: Bytes one event takes in the files (an index and a value).
    event_bytes: int = 8

    def partitions(
        self,
        *,
        count: int | None = None,
        target_bytes: int = DEFAULT_PARTITION_BYTES,
        min_count: int = 1,
    ) -> list[Partition]:
        """Near-equal ranges of frames (events spread evenly in a scan of one sample); as
        many as the stored bytes need at ``target_bytes``, at least ``min_count``."""
        stored = self.n_events * self.event_bytes + (self.n_frames + 1) * 8
        if count is None:
            count = max(min_count, math.ceil(stored / max(1, target_bytes)))
        count = max(1, min(int(count), self.n_frames))
        edges = [i * self.n_frames // count for i in range(count + 1)]
        return [
            self.make_partition(i, edges[i], edges[i + 1]).pin(self.pinned) for i in range(count)
        ]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "events": self.n_events}
