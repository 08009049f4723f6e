"""DECTRIS Arina (and other NeXus ``_master.h5``) acquisitions.

The master file's ``/entry/data/data_000001``, ``data_000002``, ... are external links to data
files, each a ``(frames, sy, sx)`` dataset (usually bitshuffle/LZ4 in chunks of one frame,
decoded by the Core on all cores, :mod:`apps.core.io.h5compressed`; other layouts by h5py).
All data files are read as one frame sequence in link order. The detector's
``/entry/instrument/detector/detectorSpecific/pixel_mask`` (non-zero = bad pixel) is applied:
masked pixels are 0 in every frame, for every analysis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import h5py
import hdf5plugin  # noqa: F401 - registers bitshuffle/LZ4 with HDF5
import numpy as np

from apps.core.corrections import Corrections
from apps.core.errors import DataSetError
from apps.core.io.base import DataSet, Partition, check_dtype, check_params, check_shape
from apps.core.io.corrected import CorrectedPartition
from apps.core.io.h5compressed import CompressedChunkPartition, compressed_chunks
from apps.core.io.references import (
    H5_ERRORS,
    AllowedFiles,
    Reference,
    check_h5_opened,
    check_virtual_sources,
    hdf5_references,
)

DATA_GROUP = "/entry/data"
PIXEL_MASK = "/entry/instrument/detector/detectorSpecific/pixel_mask"
PARAMS = ("nav_shape",)


def data_links(h5file: h5py.File) -> list[tuple[str, h5py.ExternalLink]]:
    """The ``data_NNNNNN`` external links of a master file, in order (empty if none)."""
    group = h5file.get(DATA_GROUP)
    if not isinstance(group, h5py.Group):
        return []
    links = []
    for name in sorted(group):
        link = group.get(name, getlink=True)
        if name.startswith("data_") and isinstance(link, h5py.ExternalLink):
            links.append((name, link))
    return links


class ArinaPartition(Partition):
    """Frames ``[start, stop)`` over data files ``(path, dataset, first, count)``."""

    def __init__(self, *, files: Sequence[tuple[str, str, int, int]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files = [(str(p), str(d), int(a), int(n)) for p, d, a, n in files]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.files[0][0]}

    def close(self) -> None:
        for decoded in self.__dict__.pop("_decoded", {}).values():
            if decoded is not None:
                decoded.close()
        for h5file in self.__dict__.pop("_open", {}).values():
            h5file.close()

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` decompressed into a new ``(k, sy*sx)`` array."""
        self._check_range(start, stop)
        out = np.empty((stop - start, *self.sig_shape), dtype=self.dtype)
        for path, name, first, count in self.files:
            lo, hi = max(start, first), min(stop, first + count)
            if lo >= hi:
                continue
            dset = self._dataset(path, name)
            decoded = self.__dict__["_decoded"].get(path)
            if decoded is not None:
                decoded.decode_into(lo, hi, out[lo - start : hi - start])
                continue
            try:
                dset.read_direct(
                    out[lo - start : hi - start], source_sel=np.s_[lo - first : hi - first]
                )
            except H5_ERRORS as exc:
                raise DataSetError(f"{path}: cannot read {self.label}: {exc}.") from exc
        return out.reshape(stop - start, self.frame_size)

    def _dataset(self, path: str, name: str) -> h5py.Dataset:
        files: dict[str, h5py.File] = self.__dict__.setdefault("_open", {})
        decoded: dict[str, Partition | None] = self.__dict__.setdefault("_decoded", {})
        if path not in files:
            try:
                h5file = h5py.File(path, "r")
            except H5_ERRORS as exc:
                raise DataSetError(f"{path}: cannot open the data file: {exc}.") from exc
            try:
                check_h5_opened(h5file, self.pinned)
            except DataSetError:
                h5file.close()
                raise
            files[path] = h5file
        dset = files[path][name]
        check_h5_opened(dset.file, self.pinned)  # an external link in the data file
        check_virtual_sources(path, dset, self.pinned)
        if path not in decoded:
            decoded[path] = self._decoder(path, dset)
        return dset

    def _decoder(self, path: str, dset: h5py.Dataset) -> Partition | None:
        """This partition's frames of data file ``path`` decoded by the Core, when its chunks
        allow it (:mod:`apps.core.io.h5compressed`), else None (h5py reads them)."""
        chunks = compressed_chunks(dset)
        first, count = next((f[2], f[3]) for f in self.files if f[0] == path)
        if chunks is None:
            return None
        return CompressedChunkPartition(
            path=dset.file.filename,
            chunks=chunks.shifted(first),
            **{
                **self.frames(),
                "start": max(self.start, first),
                "stop": min(self.stop, first + count),
            },
        ).pin(self.pinned)


class ArinaDataSet(DataSet):
    """The frames of every data file linked from a NeXus master file, as one sequence."""

    format = "arina"

    def __init__(
        self,
        *,
        path: str,
        files: list[tuple[str, str, int, int]],
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        dtype: Any,
        pixel_mask: np.ndarray | None,
        given_nav_shape: Sequence[int] | None,
        notes: list[str],
    ) -> None:
        super().__init__(path=path, nav_shape=nav_shape, sig_shape=sig_shape, dtype=dtype)
        self.files = files
        self.corrections = Corrections(
            sig_shape=self.sig_shape, excluded=None if pixel_mask is None else pixel_mask != 0
        )
        self.given_nav_shape = None if given_nav_shape is None else list(given_nav_shape)
        self.notes = notes

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The master, every ``data_NNNNNN`` file it links to and whatever those link to."""
        return hdf5_references(path, allowed)

    @classmethod
    def sniff(cls, h5file: h5py.File) -> bool:
        return bool(data_links(h5file))

    @classmethod
    def open(cls, path: str, **params: Any) -> ArinaDataSet:
        """Open a master file; ``nav_shape`` (product = all frames) gives the scan shape."""
        check_params(params, PARAMS, path=path, kind="Arina")
        try:
            master = h5py.File(path, "r")
        except H5_ERRORS as exc:
            raise DataSetError(f"{path}: cannot open the HDF5 master file: {exc}.") from exc
        with master:
            files, sig, dtype = _data_files(master, path)
            mask = master.get(PIXEL_MASK)
            pixel_mask = mask[()] if isinstance(mask, h5py.Dataset) else None
        n = sum(f[3] for f in files)
        notes = [f"DECTRIS NeXus master with {len(files)} data file(s), {n} frames in all."]
        if pixel_mask is not None and pixel_mask.shape != tuple(sig):
            raise DataSetError(
                f"{path}: {PIXEL_MASK} has shape {list(pixel_mask.shape)}; expected the frame "
                f"shape {list(sig)}."
            )
        notes.append(
            "No pixel mask found."
            if pixel_mask is None
            else f"Pixel mask applied: {int(np.count_nonzero(pixel_mask))} pixels excluded."
        )
        nav = params.get("nav_shape")
        if nav is None:
            notes.append(f"The file has no scan shape: read as a line of {n} frames.")
            nav_shape: tuple[int, ...] = (n,)
        else:
            nav_shape = check_shape(nav, name="nav_shape", source=path)
            if math.prod(nav_shape) != n:
                raise DataSetError(
                    f"{path}: nav_shape {list(nav_shape)} does not fit; expected dimensions "
                    f"whose product is {n} frames."
                )
        return cls(
            path=path,
            files=files,
            nav_shape=nav_shape,
            sig_shape=sig,
            dtype=dtype,
            pixel_mask=pixel_mask,
            given_nav_shape=nav,
            notes=notes,
        )

    @property
    def pixel_mask(self) -> np.ndarray:
        """The detector's bad pixels, bool ``sig_shape`` (True = excluded from every analysis)."""
        excluded = self.corrections.excluded
        if excluded is None:
            return np.zeros(self.sig_shape, dtype=bool)
        return excluded.reshape(self.sig_shape).copy()

    def params(self) -> dict[str, Any]:
        return {} if self.given_nav_shape is None else {"nav_shape": self.given_nav_shape}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "notes": self.notes,
            "pixel_mask": self.corrections.describe()["excluded_pixels"],
        }

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        part: Partition = ArinaPartition(
            files=[f for f in self.files if f[2] < stop and f[2] + f[3] > start],
            **self.frames(index, start, stop),
        )
        if not self.corrections.empty:
            part = CorrectedPartition(part, self.corrections)
        return part


def _data_files(
    master: h5py.File, path: str
) -> tuple[list[tuple[str, str, int, int]], tuple[int, int], np.dtype]:
    links = data_links(master)
    if not links:
        raise DataSetError(f"{path}: no external links {DATA_GROUP}/data_* in the master file.")
    folder = os.path.dirname(path)
    files = []
    first = 0
    sig: tuple[int, int] | None = None
    dtype = None
    for name, link in links:
        data_path = os.path.join(folder, link.filename)
        if not os.path.isfile(data_path):
            raise DataSetError(
                f"{path}: {DATA_GROUP}/{name} links to {link.filename}, which is missing "
                f"(expected at {data_path})."
            )
        try:
            with h5py.File(data_path, "r") as data_file:
                dset = data_file[link.path]
                shape, dtype = dset.shape, dset.dtype
        except H5_ERRORS as exc:
            raise DataSetError(f"{data_path}: cannot open dataset {link.path}: {exc}.") from exc
        if len(shape) != 3 or (sig is not None and tuple(shape[1:]) != sig):
            raise DataSetError(
                f"{data_path}: dataset {link.path} has shape {list(shape)}; expected "
                f"(frames, sy, sx){'' if sig is None else f' with frames of {list(sig)}'}."
            )
        sig = (int(shape[1]), int(shape[2]))
        files.append((data_path, link.path, first, int(shape[0])))
        first += int(shape[0])
    assert sig is not None
    return files, sig, check_dtype(dtype, source=f"{path} ({DATA_GROUP})")
