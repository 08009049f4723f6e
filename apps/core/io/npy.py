"""NumPy ``.npy`` files, memory-mapped: ``(n, sy, sx)``, ``(ny, nx, sy, sx)`` or more scan
axes ``(d0, ..., ny, nx, sy, sx)``; every leading axis is a scan axis, kept as it is."""

from __future__ import annotations

import os
from typing import Any

from apps.core.errors import DataSetError
from apps.core.io.base import DataSet, Partition
from apps.core.io.mapped import MappedPartition
from apps.core.npyfile import read_npy_header

MAGIC = b"\x93NUMPY"


class NpyDataSet(DataSet):
    format = "npy"

    def __init__(self, *, path: str, shape: tuple[int, ...], dtype: Any, offset: int) -> None:
        super().__init__(path=path, nav_shape=shape[:-2], sig_shape=shape[-2:], dtype=dtype)
        self.offset = offset

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        return head.startswith(MAGIC)

    @classmethod
    def open(cls, path: str, **params: Any) -> NpyDataSet:
        if params:
            raise DataSetError(f"{path}: an .npy file describes itself; no parameters are taken.")
        try:
            with open(path, "rb") as f:
                shape, fortran, dtype = read_npy_header(f)
                offset = f.tell()
        except OSError as exc:
            raise DataSetError(f"{path}: cannot read the file: {exc.strerror}.") from exc
        except ValueError as exc:
            raise DataSetError(f"{path}: not a valid .npy file ({exc}).") from exc
        if fortran:
            raise DataSetError(
                f"{path}: Fortran-ordered arrays are not supported; save in C order."
            )
        if len(shape) < 3:
            raise DataSetError(
                f"{path}: expected an array of at least 3 dimensions (scan axes, then sy, sx), "
                f"got shape {list(shape)}."
            )
        ds = cls(path=str(path), shape=tuple(shape), dtype=dtype, offset=offset)
        need = offset + ds.nbytes
        size = os.stat(path).st_size
        if size < need:
            raise DataSetError(
                f"{path}: file has {size} bytes, {need} are needed for shape {list(shape)}."
            )
        return ds

    def params(self) -> dict[str, Any]:
        return {}

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        return MappedPartition(
            path=self.path,
            offset=self.offset + start * self.frame_bytes,
            **self.frames(index, start, stop),
        )
