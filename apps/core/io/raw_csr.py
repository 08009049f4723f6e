"""LiberTEM's ``raw_csr`` format: a TOML descriptor naming three raw files of CSR rows.

::

    [params]
    filetype = "raw_csr"
    nav_shape = [256, 256]
    sig_shape = [256, 256]

    [raw_csr]
    indptr_file = "indptr.raw"     # n + 1 integers
    indptr_dtype = "<i8"
    indices_file = "indices.raw"   # one pixel index (flat, C order) per event
    indices_dtype = "<i4"
    data_file = "values.raw"       # one count per event
    data_dtype = "<u1"

File names are relative to the descriptor's folder (or absolute); each is checked against the
data folders like every file a dataset names. The arrays are memory-mapped; ``indptr`` may
hold more than ``nav_shape``'s frames (LiberTEM reads the first ones too).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from typing import Any

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io import mapping
from apps.core.io.base import Partition, check_dtype, check_shape
from apps.core.io.csr import CSRDataSet, CSRPartition, check_index_dtype, check_indptr
from apps.core.io.mapping import map_view, require_size
from apps.core.io.references import AllowedFiles, Reference, check_files

FILES = ("indptr", "indices", "data")


class MappedCSRPartition(CSRPartition):
    """Frames ``[start, stop)`` of CSR arrays in raw files (``files``: name -> path, dtype)."""

    def __init__(self, *, files: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files = files
        self.path = files["indptr"][0]

    def _array(self, name: str) -> np.ndarray:
        path, dtype = self.files[name]
        itemsize = np.dtype(dtype).itemsize
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise DataSetError(f"{path}: cannot read the {name} file: {exc.strerror}.") from exc
        return map_view(path, dtype, 0, (size // itemsize,), self.pinned)

    def pointers(self) -> np.ndarray:
        cached = self.__dict__.get("_ptr")
        if cached is None:
            path, dtype = self.files["indptr"]
            require_size(path, (self.stop + 1) * np.dtype(dtype).itemsize, self.label)
            cached = self._ptr = self._array("indptr")[self.start : self.stop + 1].astype(np.int64)
        return cached

    def events(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for name in ("indices", "data"):
            path, dtype = self.files[name]
            require_size(path, hi * np.dtype(dtype).itemsize, self.label)
            out.append(self._array(name)[lo:hi])
        return out[0], out[1]

    def release_events(self, lo: int, hi: int) -> None:
        for name in ("indices", "data"):
            path, dtype = self.files[name]
            size = np.dtype(dtype).itemsize
            mapping.release(path, lo * size, (hi - lo) * size)

    def close(self) -> None:
        self.__dict__.pop("_ptr", None)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path}


class RawCSRDataSet(CSRDataSet):
    """A ``raw_csr`` TOML descriptor and the three files it names."""

    format = "raw_csr"

    def __init__(
        self,
        *,
        path: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        files: dict[str, tuple[str, str]],
    ) -> None:
        super().__init__(
            path=path, nav_shape=nav_shape, sig_shape=sig_shape, dtype=files["data"][1]
        )
        self.files = files
        self._check_files()

    @classmethod
    def open(cls, path: str, **params: Any) -> RawCSRDataSet:
        if params:
            raise DataSetError(f"{path}: a raw_csr descriptor describes itself; no parameters.")
        doc = load_descriptor(path)
        conf = doc["params"]
        nav = check_shape(conf.get("nav_shape"), name="params.nav_shape", source=path)
        sig = check_shape(conf.get("sig_shape"), name="params.sig_shape", source=path, ndim=2)
        return cls(path=path, nav_shape=nav, sig_shape=sig, files=descriptor_files(path, doc))

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The descriptor and the three files it names."""
        refs = check_files([Reference(path)], allowed)
        named = [
            Reference(file, path, f"raw_csr.{name}_file")
            for name, (file, _) in descriptor_files(path, load_descriptor(path)).items()
        ]
        return check_files(refs + named, allowed)

    def params(self) -> dict[str, Any]:
        return {}

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        return MappedCSRPartition(files=self.files, **self.frames(index, start, stop))

    def _check_files(self) -> None:
        sizes = {}
        for name, (file, dtype) in self.files.items():
            try:
                sizes[name] = os.stat(file).st_size // np.dtype(dtype).itemsize
            except OSError as exc:
                raise DataSetError(
                    f"{self.path}: cannot read raw_csr.{name}_file {file}: {exc.strerror}."
                ) from exc
        if sizes["indices"] != sizes["data"]:
            raise DataSetError(
                f"{self.path}: the indices file holds {sizes['indices']} events but the data "
                f"file {sizes['data']}; they must hold one entry per event each."
            )
        if sizes["indptr"] < self.n_frames + 1:
            raise DataSetError(
                f"{self.path}: the indptr file holds {sizes['indptr']} entries; nav_shape "
                f"{list(self.nav_shape)} needs {self.n_frames + 1} (frames + 1)."
            )
        indptr_file, indptr_dtype = self.files["indptr"]
        ptr = map_view(indptr_file, indptr_dtype, 0, (self.n_frames + 1,))
        check_indptr(ptr, sizes["data"], source=indptr_file)
        self.n_events = int(ptr[-1] - ptr[0])
        self.event_bytes = sum(np.dtype(self.files[k][1]).itemsize for k in ("indices", "data"))


def load_descriptor(path: str) -> dict[str, Any]:
    """The TOML descriptor at ``path``, checked to be a ``raw_csr`` one."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the descriptor: {exc.strerror}.") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataSetError(f"{path}: the descriptor is not valid TOML ({exc}).") from exc
    conf = doc.get("params")
    filetype = conf.get("filetype") if isinstance(conf, dict) else None
    if not isinstance(filetype, str) or filetype.lower() != "raw_csr":
        raise DataSetError(f'{path}: not a raw_csr descriptor ([params] filetype = "raw_csr").')
    return doc


def descriptor_files(path: str, doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``{"indptr" | "indices" | "data": (real path, dtype)}`` from the ``[raw_csr]`` table."""
    table = doc.get(doc["params"]["filetype"])
    if not isinstance(table, dict):
        raise DataSetError(f"{path}: the [raw_csr] table naming the files is missing.")
    folder = os.path.dirname(os.path.abspath(path))
    files = {}
    for name in FILES:
        file, dtype = table.get(f"{name}_file"), table.get(f"{name}_dtype")
        if not isinstance(file, str) or not file or "\x00" in file:
            raise DataSetError(f"{path}: raw_csr.{name}_file must name a file.")
        field = f"raw_csr.{name}_dtype"
        if name == "data":
            dt = check_dtype(dtype, source=f"{path}: {field}")
        else:
            dt = check_index_dtype(dtype, name=field, source=path)
        files[name] = (os.path.realpath(os.path.join(folder, file)), dt.str)
    return files


#: The suffix of each array's file next to a descriptor written here (``x.toml``: ``x.indptr``).
SUFFIXES = {"indptr": "indptr", "indices": "indices", "data": "values"}


def write_raw_csr(
    path: str | os.PathLike[str],
    *,
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
) -> None:
    """Write the three arrays, each in its own dtype, and their ``raw_csr`` descriptor at
    ``path`` (``x.toml``: files ``x.indptr``, ``x.indices``, ``x.values``)."""
    base = os.path.splitext(os.fspath(path))[0]
    arrays = {"indptr": indptr, "indices": indices, "data": values}
    for name, arr in arrays.items():
        np.ascontiguousarray(arr).tofile(f"{base}.{SUFFIXES[name]}")
    dtypes = {name: np.asarray(arr).dtype.str for name, arr in arrays.items()}
    write_descriptor(path, nav_shape=nav_shape, sig_shape=sig_shape, dtypes=dtypes)


def write_descriptor(
    path: str | os.PathLike[str],
    *,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    dtypes: dict[str, str],
) -> None:
    """The ``raw_csr`` descriptor at ``path`` naming ``x.indptr``, ``x.indices``, ``x.values``
    (``dtypes``: ``indptr``, ``indices`` and ``data`` -> numpy dtype string)."""
    base = os.path.basename(os.path.splitext(os.fspath(path))[0])
    lines = [
        "[params]",
        'filetype = "raw_csr"',
        f"nav_shape = {[int(d) for d in nav_shape]}",
        f"sig_shape = {[int(d) for d in sig_shape]}",
        "",
        "[raw_csr]",
    ]
    for name in FILES:
        lines += [
            f'{name}_file = "{base}.{SUFFIXES[name]}"',
            f'{name}_dtype = "{np.dtype(dtypes[name]).str}"',
        ]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
