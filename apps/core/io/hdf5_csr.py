"""Electron-counted frames in an HDF5 group of CSR rows (the layout this reader accepts).

::

    /events                      a group (any name, any depth)
        indptr    (n + 1,)       integers: frame i's events are indptr[i] to indptr[i + 1]
        indices   (events,)      integers: each event's pixel, flat in the frame (C order)
        values    (events,)      its count (any supported dtype; the dataset's dtype)
        attrs: nav_shape = [ny, nx]   (any number of scan axes; default: (n,))
               sig_shape = [sy, sx]   (required)

Give the group as ``file.h5:/events`` (or the ``group`` parameter); without it the file's only
such group is used. The datasets may be chunked and compressed (HDF5 filters such as gzip,
LZ4, bitshuffle): each block of frames is read with one hyperslab per array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.base import Partition, check_dtype, check_params, check_shape
from apps.core.io.csr import CSRDataSet, CSRPartition, check_index_dtype, check_indptr
from apps.core.io.hdf5 import H5DataSet
from apps.core.io.references import (
    H5_ERRORS,
    AllowedFiles,
    Reference,
    check_h5_opened,
    hdf5_references,
)

ARRAYS = ("indptr", "indices", "values")
PARAMS = ("group",)


def is_csr_group(obj: Any) -> bool:
    """Whether ``obj`` is a group holding the three 1-d CSR datasets."""
    if not isinstance(obj, h5py.Group):
        return False
    for name in ARRAYS:
        item = obj.get(name)
        if not isinstance(item, h5py.Dataset) or item.ndim != 1:
            return False
    return True


def holds_csr(path: str, inner: str | None) -> bool:
    """Whether HDF5 file ``path`` is read as CSR frames: ``inner`` (if given) is a CSR group,
    else the file has one (errors: False, the HDF5 reader explains them)."""
    try:
        with h5py.File(path, "r") as h5file:
            if inner is not None:
                return is_csr_group(h5file.get(inner))
            return bool(csr_groups(h5file))
    except H5_ERRORS:
        return False


def csr_groups(h5file: h5py.File) -> list[str]:
    """Names of the CSR groups in ``h5file`` (hard links only)."""
    found = ["/"] if is_csr_group(h5file) else []

    def visit(name: str, obj: Any) -> None:
        if is_csr_group(obj):
            found.append("/" + name)

    h5file.visititems(visit)
    return found


class H5CSRPartition(CSRPartition):
    """Frames ``[start, stop)`` of the CSR group ``group`` of HDF5 file ``path``."""

    def __init__(self, *, path: str, group: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.group = group

    def _datasets(self) -> h5py.Group:
        group = self.__dict__.get("_group")
        if group is None:
            try:
                h5file = h5py.File(self.path, "r")
            except H5_ERRORS as exc:
                raise DataSetError(f"{self.path}: cannot open the file: {exc}.") from exc
            check_h5_opened(h5file, self.pinned)
            group = h5file.get(self.group)
            if not is_csr_group(group):
                h5file.close()
                raise DataSetError(f"{self.path}: {self.group} is no longer a CSR group.")
            self._file, self._group = h5file, group
        return group

    def pointers(self) -> np.ndarray:
        cached = self.__dict__.get("_ptr")
        if cached is None:
            cached = self._read("indptr", self.start, self.stop + 1).astype(np.int64)
            self._ptr = cached
        return cached

    def events(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        return self._read("indices", lo, hi), self._read("values", lo, hi)

    def _read(self, name: str, lo: int, hi: int) -> np.ndarray:
        try:
            return self._datasets()[name][lo:hi]
        except H5_ERRORS as exc:
            raise DataSetError(
                f"{self.path}: cannot read {self.group}/{name} [{lo}:{hi}] for {self.label}: {exc}."
            ) from exc

    def close(self) -> None:
        self.__dict__.pop("_ptr", None)
        self.__dict__.pop("_group", None)
        h5file = self.__dict__.pop("_file", None)
        if h5file is not None:
            h5file.close()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path, "group": self.group}


class H5CSRDataSet(CSRDataSet):
    """The CSR group ``group`` of an HDF5 file."""

    format = "hdf5_csr"

    def __init__(
        self,
        *,
        path: str,
        group: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        dtype: Any,
    ) -> None:
        super().__init__(path=path, nav_shape=nav_shape, sig_shape=sig_shape, dtype=dtype)
        self.group = group

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The file and everything it links to, as for any HDF5 file."""
        return hdf5_references(H5DataSet.split_path(path)[0], allowed)

    @classmethod
    def open(cls, path: str, **params: Any) -> H5CSRDataSet:
        check_params(params, PARAMS, path=path, kind="HDF5 CSR")
        file_path, inner = H5DataSet.split_path(path)
        try:
            with h5py.File(file_path, "r") as h5file:
                name = params.get("group") or inner or _only_group(h5file, file_path)
                group = h5file.get(name)
                if not is_csr_group(group):
                    raise DataSetError(
                        f"{file_path}: {name} is not a group of 1-d datasets {', '.join(ARRAYS)}."
                    )
                return cls._from_group(file_path, group)
        except H5_ERRORS as exc:
            raise DataSetError(f"{file_path}: cannot read the HDF5 file: {exc}.") from exc

    @classmethod
    def _from_group(cls, file_path: str, group: h5py.Group) -> H5CSRDataSet:
        where = f"{file_path}:{group.name}"
        for name in ("indptr", "indices"):
            check_index_dtype(group[name].dtype, name=name, source=where)
        dtype = check_dtype(group["values"].dtype, source=f"{where}/values")
        n_events = group["values"].shape[0]
        if group["indices"].shape[0] != n_events:
            raise DataSetError(
                f"{where}: indices has {group['indices'].shape[0]} events but values "
                f"{n_events}; they must hold one entry per event each."
            )
        if "sig_shape" not in group.attrs:
            raise DataSetError(f"{where}: the attribute sig_shape = [sy, sx] is missing.")
        sig = check_shape(group.attrs["sig_shape"], name="sig_shape", source=where, ndim=2)
        frames = group["indptr"].shape[0] - 1
        nav_attr = group.attrs.get("nav_shape", [frames])
        nav = check_shape(nav_attr, name="nav_shape", source=where)
        ptr = group["indptr"][: int(np.prod(nav)) + 1]
        if ptr.shape[0] != int(np.prod(nav)) + 1:
            raise DataSetError(
                f"{where}: indptr has {ptr.shape[0]} entries; nav_shape {list(nav)} needs "
                f"{int(np.prod(nav)) + 1} (frames + 1)."
            )
        check_indptr(ptr, n_events, source=f"{where}/indptr")
        ds = cls(path=file_path, group=group.name, nav_shape=nav, sig_shape=sig, dtype=dtype)
        ds.n_events = int(ptr[-1] - ptr[0])
        ds.event_bytes = group["indices"].dtype.itemsize + dtype.itemsize
        return ds

    def params(self) -> dict[str, Any]:
        return {"group": self.group}

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        return H5CSRPartition(path=self.path, group=self.group, **self.frames(index, start, stop))


def _only_group(h5file: h5py.File, path: str) -> str:
    groups = csr_groups(h5file)
    if len(groups) != 1:
        found = f"found {', '.join(groups)}" if groups else "found none"
        raise DataSetError(
            f"{path}: expected one group holding indptr, indices and values ({found}); name "
            'it as "file.h5:/group" or with the group parameter.'
        )
    return groups[0]


def write_h5_csr(
    path: str,
    *,
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    group: str = "/events",
    **dataset_options: Any,
) -> None:
    """Write CSR frames as the layout this module reads (``dataset_options``: h5py's
    ``create_dataset`` options, such as ``chunks`` and ``compression``)."""
    with h5py.File(path, "a") as h5file:
        grp = h5file.require_group(group)
        for name, arr in (("indptr", indptr), ("indices", indices), ("values", values)):
            grp.create_dataset(name, data=arr, **dataset_options)
        grp.attrs["nav_shape"] = [int(d) for d in nav_shape]
        grp.attrs["sig_shape"] = [int(d) for d in sig_shape]
