"""HDF5 files (also EMD, NeXus, HyperSpy ``.hspy``): one n-d dataset inside the file.

The dataset's last two dimensions are the detector frame ``(sy, sx)``; the leading ones are
the scan:

* ``(frames, sy, sx)``: nav_shape ``(frames,)``;
* ``(ny, nx, sy, sx)``: nav_shape ``(ny, nx)``;
* 5-d and more, ``(d0, ..., dk, sy, sx)``: nav_shape ``(d0, ..., dk)``, every axis kept (also
  those of length 1).

A given ``nav_shape`` of any length whose product is the number of frames reinterprets the
leading dimensions (e.g. a ``(frames, sy, sx)`` stack as a ``(ny, nx)`` scan, or
``(2, 2, 1, sy, sx)`` as ``(2, 2)``).

Contiguous uncompressed datasets are memory-mapped at their offset in the file, and so are
uncompressed ones chunked in whole frames (:mod:`apps.core.io.h5chunks`); ones whose chunks
split the frame, and compressed ones, are read through h5py, one hyperslab per run of whole
scan rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import h5py
import hdf5plugin  # noqa: F401 - registers the detector filters (bitshuffle, LZ4, ...) with HDF5
import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.base import DataSet, Partition, check_dtype, check_params, check_shape
from apps.core.io.conventions import find_datacube, named_datacube
from apps.core.io.h5chunks import ChunkMapPartition, frame_chunk_offsets
from apps.core.io.h5compressed import CompressedChunkPartition, compressed_chunks
from apps.core.io.h5path import split_h5_path
from apps.core.io.mapped import MappedPartition
from apps.core.io.references import (
    H5_ERRORS,
    HDF5_SIGNATURE,
    AllowedFiles,
    Reference,
    check_h5_opened,
    check_virtual_sources,
    hdf5_references,
)

PARAMS = ("dataset", "nav_shape")
MAX_CANDIDATES = 5
MIN_CHUNK_CACHE = 16 * 2**20
MAX_CHUNK_CACHE = 256 * 2**20
CHUNK_CACHE_SLOTS = 10007  # a prime, as HDF5 recommends


class H5Partition(Partition):
    """Frames ``[start, stop)`` of dataset ``dataset`` (of shape ``ds_shape``) in file ``path``.

    The open file lives in ``self._file`` (or a memory map in ``self._raw``); both are dropped
    when pickled and reopened lazily by the next :meth:`read`.
    """

    def __init__(
        self,
        *,
        path: str,
        dataset: str,
        ds_shape: Sequence[int],
        chunk_cache_bytes: int = MIN_CHUNK_CACHE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.dataset = dataset
        self.ds_shape = tuple(int(d) for d in ds_shape)
        self.chunk_cache_bytes = chunk_cache_bytes

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` as a C-contiguous ``(k, sy*sx)`` array of ``self.dtype``."""
        self._check_range(start, stop)
        if "_raw" not in self.__dict__ and "_dset" not in self.__dict__:
            self._open()
        raw: Partition | None = self.__dict__.get("_raw")
        if raw is not None:
            return raw.read(start, stop)
        return self._read_h5(start, stop)

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        # A mapped dataset cuts its own tiles (frame chunks: at the gaps between chunk runs).
        if "_raw" not in self.__dict__ and "_dset" not in self.__dict__:
            self._open()
        raw: Partition | None = self.__dict__.get("_raw")
        if raw is None:
            yield from super().tiles(tile_frames=tile_frames, roi=roi)
        else:
            yield from raw.tiles(tile_frames=tile_frames, roi=roi)

    def tile_streams(
        self, count: int, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> list[Iterator[tuple[int, np.ndarray]]] | None:
        if "_raw" not in self.__dict__ and "_dset" not in self.__dict__:
            self._open()
        raw: Partition | None = self.__dict__.get("_raw")
        return None if raw is None else raw.tile_streams(count, tile_frames=tile_frames, roi=roi)

    def close(self) -> None:
        raw = self.__dict__.pop("_raw", None)
        if raw is not None:
            raw.close()
        self.__dict__.pop("_dset", None)
        h5file = self.__dict__.pop("_file", None)
        if h5file is not None:
            h5file.close()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path, "dataset": self.dataset}

    def _fail(self, what: str, exc: BaseException | None = None) -> DataSetError:
        detail = f": {exc}" if exc is not None else ""
        return DataSetError(
            f"{self.path}: cannot read {self.label} of dataset {self.dataset}: {what}{detail}."
        )

    def _open(self) -> None:
        try:
            h5file = h5py.File(
                self.path,
                "r",
                rdcc_nbytes=self.chunk_cache_bytes,
                rdcc_nslots=CHUNK_CACHE_SLOTS,
            )
        except H5_ERRORS as exc:
            raise self._fail("the file cannot be opened (was it truncated or moved?)", exc) from exc
        try:
            check_h5_opened(h5file, self.pinned)
            dset = h5file.get(self.dataset)
            if isinstance(dset, h5py.Dataset):
                check_h5_opened(dset.file, self.pinned)  # the target of an external link
            if not isinstance(dset, h5py.Dataset) or dset.shape != self.ds_shape:
                found = getattr(dset, "shape", "no dataset")
                raise self._fail(
                    f"it changed since it was opened: expected shape {list(self.ds_shape)}, "
                    f"found {found}"
                )
            if dset.dtype != self.dtype:
                raise self._fail(f"dtype changed from {self.dtype.str} to {dset.dtype.str}")
            self._open_storage(h5file, dset)
        except BaseException:
            h5file.close()
            raise

    def _open_storage(self, h5file: h5py.File, dset: h5py.Dataset) -> None:
        offset = _mappable_offset(dset)
        if offset is not None:
            # The data may sit in another file (external link): map that file.
            self._raw: Partition = MappedPartition(
                path=dset.file.filename,
                offset=offset + self.start * self.frame_size * self.dtype.itemsize,
                **self.frames(),
            ).pin(self.pinned)
            h5file.close()
            return
        offsets = frame_chunk_offsets(dset)
        if offsets is not None:
            self._raw = ChunkMapPartition(
                path=dset.file.filename, offsets=offsets[self.start : self.stop], **self.frames()
            ).pin(self.pinned)
            h5file.close()
            return
        chunks = compressed_chunks(dset)
        if chunks is not None:
            self._raw = CompressedChunkPartition(
                path=dset.file.filename, chunks=chunks, **self.frames()
            ).pin(self.pinned)
            h5file.close()
            return
        self._file = h5file
        self._dset = dset

    def _check_not_truncated(self) -> None:
        # HDF5 reads missing bytes as zeros once a file is open (and shares open files within a
        # process), so compare the file with the size HDF5 expects it to have.
        data_file = self._dset.file
        try:
            size = os.stat(data_file.filename).st_size
        except OSError as exc:
            raise self._fail(f"{data_file.filename} is gone ({exc.strerror})") from exc
        need = data_file.id.get_filesize()
        if size < need:
            raise self._fail(
                f"{data_file.filename} has {size} bytes, but HDF5 expects {need}; was it "
                "truncated or overwritten"
            )

    def _read_h5(self, start: int, stop: int) -> np.ndarray:
        self._check_not_truncated()
        check_virtual_sources(self.path, self._dset, self.pinned)
        out = np.empty((stop - start, *self.sig_shape), dtype=self.dtype)
        try:
            for lo, hi, sel in nav_boxes(self.ds_shape[:-2], start, stop):
                box = tuple(s.stop - s.start for s in sel) + self.sig_shape
                self._dset.read_direct(out[lo - start : hi - start].reshape(box), source_sel=sel)
        except H5_ERRORS as exc:
            raise self._fail("HDF5 read failed", exc) from exc
        return out.reshape(stop - start, self.frame_size)


class H5DataSet(DataSet):
    """One dataset of an HDF5 file; ``dataset`` is its path inside the file."""

    format = "hdf5"

    def __init__(
        self,
        *,
        path: str,
        dataset: str,
        ds_shape: Sequence[int],
        dtype: Any,
        chunks: Sequence[int] | None = None,
        nav_shape: Sequence[int] | None = None,
    ) -> None:
        self.dataset = dataset
        self.ds_shape = tuple(int(d) for d in ds_shape)
        self.chunks = None if chunks is None else tuple(int(c) for c in chunks)
        self.given_nav_shape = None if nav_shape is None else tuple(nav_shape)
        nav = nav_shape if nav_shape is not None else default_nav_shape(self.ds_shape)
        self.calibration: list[dict[str, Any]] = []  # per axis, from a file convention
        self.notes: list[str] = []
        super().__init__(path=path, nav_shape=nav, sig_shape=self.ds_shape[-2:], dtype=dtype)

    split_path = staticmethod(split_h5_path)

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The file and everything it links to (external links, virtual sources), walked and
        checked before anything is followed; refuses external raw storage."""
        return hdf5_references(cls.split_path(path)[0], allowed)

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """True if ``head`` (the file's first bytes) starts with the HDF5 signature."""
        return head.startswith(HDF5_SIGNATURE)

    @classmethod
    def open(cls, path: str, **params: Any) -> H5DataSet:
        """Open ``path`` (``file.h5`` or ``file.h5:/group/data``).

        Parameters
        ----------
        path
            The file, optionally followed by ``:/path/inside``.
        dataset
            Path of the dataset inside the file; overrides the one in ``path``. Without either,
            the largest dataset with at least 3 dimensions is used (4-d ones win a tie).
        nav_shape
            Scan shape (any number of axes) whose product is the number of frames, e.g. to
            view a ``(frames, sy, sx)`` stack as a ``(ny, nx)`` scan.
        """
        check_params(params, PARAMS, path=path, kind="HDF5")
        file_path, inner = cls.split_path(path)
        name = params.get("dataset") or inner
        cube, guessed = None, None
        with _open_file(file_path) as h5file:
            if name is None:
                cube = find_datacube(h5file)
                name = None if cube is None else cube.path
            if name is None:
                name, dset = _largest_dataset(h5file, file_path)
                guessed = f"The largest dataset with 3 or more dimensions, {name}, was chosen."
            else:
                name, dset = _named_dataset(h5file, str(name), file_path)
                cube = named_datacube(h5file, name)
            shape, dtype, chunks = dset.shape, dset.dtype, dset.chunks
        check_dtype(dtype, source=f"{file_path} (dataset {name})")
        nav = params.get("nav_shape")
        if nav is not None:
            nav = _given_nav_shape(nav, shape, source=f"{file_path} (dataset {name})")
        ds = cls(
            path=file_path, dataset=name, ds_shape=shape, dtype=dtype, chunks=chunks, nav_shape=nav
        )
        if cube is not None:
            ds.calibration = cube.axes
            ds.notes.append(f"{cube.convention} file: its datacube is {name}.")
        if guessed:
            ds.notes.append(guessed)
        return ds

    def describe(self) -> dict[str, Any]:
        extra = {"calibration": self.calibration} if self.calibration else {}
        return {**super().describe(), **extra, "notes": self.notes}

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"dataset": self.dataset}
        if self.given_nav_shape is not None:
            params["nav_shape"] = list(self.given_nav_shape)
        return params

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        cache = chunk_cache_bytes(self.ds_shape, self.chunks, self.dtype.itemsize)
        return H5Partition(
            **self.frames(index, start, stop),
            path=self.path,
            dataset=self.dataset,
            ds_shape=self.ds_shape,
            chunk_cache_bytes=cache,
        )


def default_nav_shape(ds_shape: Sequence[int]) -> tuple[int, ...]:
    """Nav shape of a dataset: its leading dimensions, as they are."""
    return tuple(ds_shape[:-2])


def nav_boxes(
    nav: Sequence[int], start: int, stop: int
) -> list[tuple[int, int, tuple[slice, ...]]]:
    """Split flat frames ``[start, stop)`` of a C-ordered nav grid ``nav`` into hyperslabs.

    Returns ``(lo, hi, sel)`` items in order: frames ``[lo, hi)`` are exactly the selection
    ``sel`` (one slice per nav dimension) flattened in C order. A range spanning several scan
    rows gives at most a partial first row, one block of whole rows and a partial last row
    (recursively for more than two nav dimensions).
    """
    if start >= stop:
        return []
    if len(nav) == 1:
        return [(start, stop, (slice(start, stop),))]
    inner = math.prod(nav[1:])
    first, head = divmod(start, inner)
    last, tail = divmod(stop, inner)

    def within(i: int, lo: int, hi: int) -> list[tuple[int, int, tuple[slice, ...]]]:
        return [
            (i * inner + a, i * inner + b, (slice(i, i + 1), *sel))
            for a, b, sel in nav_boxes(nav[1:], lo, hi)
        ]

    if first == last:
        return within(first, head, tail)
    boxes = []
    if head:
        boxes += within(first, head, inner)
        first += 1
    if last > first:
        whole = tuple(slice(0, d) for d in nav[1:])
        boxes.append((first * inner, last * inner, (slice(first, last), *whole)))
    if tail:
        boxes += within(last, 0, tail)
    return boxes


def chunk_cache_bytes(ds_shape: Sequence[int], chunks: Sequence[int] | None, itemsize: int) -> int:
    """HDF5 chunk cache size for reading ``ds_shape`` in flat frame order.

    Big enough for two layers of chunks along the first axis, so that a chunk spanning several
    scan rows is decompressed once although several reads touch it.
    """
    if chunks is None:
        return MIN_CHUNK_CACHE
    per_layer = math.prod(math.ceil(d / c) for d, c in zip(ds_shape[1:], chunks[1:], strict=True))
    need = 2 * per_layer * math.prod(chunks) * itemsize
    return int(min(max(need, MIN_CHUNK_CACHE), MAX_CHUNK_CACHE))


def _mappable_offset(dset: h5py.Dataset) -> int | None:
    """File offset of a contiguous, uncompressed, aligned dataset, else None."""
    if dset.chunks is not None or dset.is_virtual or dset.external:
        return None
    offset = dset.id.get_offset()
    if offset is None or offset % dset.dtype.itemsize:
        return None  # not allocated yet (all fill value), or an unaligned map: let h5py read
    return int(offset)


def _open_file(path: str) -> h5py.File:
    try:
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except IsADirectoryError as exc:
        raise DataSetError(f"{path}: is a folder, not an HDF5 file.") from exc
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the file: {exc.strerror}.") from exc
    if not H5DataSet.sniff(head) and not h5py.is_hdf5(path):
        raise DataSetError(f"{path}: not an HDF5 file (it does not start with the HDF5 signature).")
    try:
        return h5py.File(path, "r")
    except H5_ERRORS as exc:
        raise DataSetError(f"{path}: cannot open the HDF5 file (is it truncated?): {exc}.") from exc


def _datasets(h5file: h5py.File) -> list[tuple[str, h5py.Dataset]]:
    """Every dataset reachable from the root, following external links (e.g. NeXus masters)."""
    found: list[tuple[str, h5py.Dataset]] = []

    def visit(name: str, link: Any) -> None:
        try:
            obj = h5file.get("/" + name)
        except H5_ERRORS:
            return  # a dangling external or soft link
        if isinstance(obj, h5py.Dataset):
            found.append(("/" + name, obj))
        elif isinstance(obj, h5py.Group) and isinstance(link, h5py.ExternalLink):
            for inner, dset in _datasets_below(obj):
                found.append((f"/{name}/{inner}", dset))

    h5file.visititems_links(visit)
    return found


def _datasets_below(group: h5py.Group) -> list[tuple[str, h5py.Dataset]]:
    found: list[tuple[str, h5py.Dataset]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append((name, obj))

    group.visititems(visit)
    return found


def _largest_dataset(h5file: h5py.File, path: str) -> tuple[str, h5py.Dataset]:
    stacks = [(name, d) for name, d in _datasets(h5file) if d.ndim >= 3]
    if not stacks:
        others = [f"{name} {list(d.shape)}" for name, d in _datasets(h5file)][:MAX_CANDIDATES]
        listing = "; it has " + ", ".join(others) if others else "; it has no datasets"
        raise DataSetError(
            f"{path}: no dataset with at least 3 dimensions (frames, sy, sx) was found{listing}."
        )
    usable = [(name, d) for name, d in stacks if _supported(d.dtype)] or stacks
    # max() keeps the first of equals: ties go to the first in the file's (sorted) order.
    return max(usable, key=lambda item: (item[1].size, item[1].ndim == 4))


def _named_dataset(h5file: h5py.File, name: str, path: str) -> tuple[str, h5py.Dataset]:
    name = "/" + name.lstrip("/")
    try:
        obj = h5file.get(name)
    except H5_ERRORS:
        obj = None
    if not isinstance(obj, h5py.Dataset):
        stacks = [n for n, d in _datasets(h5file) if d.ndim >= 3][:MAX_CANDIDATES]
        hint = f"; datasets with 3 or more dimensions: {', '.join(stacks)}" if stacks else ""
        what = "is a group, not a dataset" if isinstance(obj, h5py.Group) else "was not found"
        raise DataSetError(f"{path}: dataset {name} {what}{hint}.")
    if obj.ndim < 3:
        raise DataSetError(
            f"{path}: dataset {name} has shape {list(obj.shape)}; expected at least 3 dimensions "
            "(frames, sy, sx) or (ny, nx, sy, sx)."
        )
    return name, obj


def _supported(dtype: np.dtype) -> bool:
    try:
        check_dtype(dtype, source="")
    except DataSetError:
        return False
    return True


def _given_nav_shape(nav: Any, ds_shape: Sequence[int], *, source: str) -> tuple[int, ...]:
    dims = check_shape(nav, name="nav_shape", source=source)
    n_frames = math.prod(ds_shape[:-2])
    if math.prod(dims) != n_frames:
        raise DataSetError(
            f"{source}: nav_shape {list(dims)} does not fit the dataset of shape "
            f"{list(ds_shape)}; expected dimensions whose product is {n_frames} frames."
        )
    return dims
