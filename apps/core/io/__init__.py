"""Dataset readers, one module per format, behind one DataSet interface.

``open_dataset(path, format=None, params=None)`` opens a dataset; ``detect(path)`` opens it
with auto-detected parameters and returns its JSON description.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

import numpy as np

from apps.core.corrections import FILE_PARAMS as CORRECTION_FILES
from apps.core.corrections import PARAMS as CORRECTION_PARAMS
from apps.core.corrections import (
    Corrections,
    hot_pixel_threshold,
    load_corrections,
    pixel_mask,
)
from apps.core.errors import DataSetError
from apps.core.io.base import DataSet, Partition
from apps.core.io.corrected import CorrectedDataSet, find_hot_pixels
from apps.core.io.empad import EmpadDataSet, sniff_xml
from apps.core.io.h5path import split_h5_path
from apps.core.io.mib import MibDataSet
from apps.core.io.npy import NpyDataSet
from apps.core.io.raw import RawDataSet
from apps.core.io.raw_csr import RawCSRDataSet
from apps.core.io.references import (
    H5_ERRORS,
    HDF5_SIGNATURE,
    AllowedFiles,
    Pins,
    Reference,
    check_files,
    pinned_files,
)

__all__ = ["FORMATS", "DataSet", "Partition", "detect", "open_dataset", "sniff_format"]


class FormatRegistry(Mapping[str, Any]):
    """The readers by format name, each a class or the dotted name of one, imported when first
    looked up: the HDF5 readers' h5py and hdf5plugin cost 0.04-0.05 s of CPU in every process
    that imports this package (``manage.py analyze`` of an ``.npy`` file included)."""

    def __init__(self, readers: dict[str, Any]) -> None:
        self._readers = readers

    def __getitem__(self, name: str) -> Any:
        reader = self._readers[name]  # KeyError: no such format
        if isinstance(reader, str):
            module, _, cls = reader.rpartition(".")
            reader = self._readers[name] = getattr(import_module(module), cls)
        return reader

    def __iter__(self) -> Iterator[str]:
        return iter(self._readers)

    def __len__(self) -> int:
        return len(self._readers)


FORMATS = FormatRegistry(
    {
        "raw": RawDataSet,
        "hdf5": "apps.core.io.hdf5.H5DataSet",
        "npy": NpyDataSet,
        "mib": MibDataSet,
        "arina": "apps.core.io.arina.ArinaDataSet",
        "empad": EmpadDataSet,
        "raw_csr": RawCSRDataSet,
        "hdf5_csr": "apps.core.io.hdf5_csr.H5CSRDataSet",
    }
)


def sniff_format(path: str) -> str:
    """Name the format of ``path`` from its content (then its name), or raise."""
    file_path, inner = split_h5_path(path)
    try:
        with open(file_path, "rb") as f:
            head = f.read(512)
    except IsADirectoryError as exc:
        raise DataSetError(f"{file_path}: is a folder, not a data file.") from exc
    except OSError as exc:
        raise DataSetError(f"{file_path}: cannot read the file: {exc.strerror}.") from exc
    if head.startswith(HDF5_SIGNATURE):
        from apps.core.io.hdf5_csr import holds_csr

        if inner is None and _is_nexus_master(file_path):
            return "arina"
        return "hdf5_csr" if holds_csr(file_path, inner) else "hdf5"
    if NpyDataSet.sniff(head):
        return "npy"
    if MibDataSet.sniff(head) or head.startswith(b"HDR,"):
        return "mib"
    if sniff_xml(head):
        return "empad"
    if file_path.endswith(".json"):
        return "raw"
    if file_path.lower().endswith(".toml"):
        return "raw_csr"
    if file_path.lower().endswith(".xml"):
        raise DataSetError(
            f"{file_path}: an XML file, but not an EMPAD description (no <raw_file> element)."
        )
    # Named like a known format but without its signature: let that reader say what is wrong.
    suffix = os.path.splitext(file_path)[1].lower()
    if suffix in (".mib", ".hdr"):
        return "mib"
    if suffix in (".h5", ".hdf5", ".emd", ".nxs", ".hspy"):
        return "hdf5"
    raise DataSetError(
        f"{file_path}: unknown format; expected an HDF5 file (EMD, NeXus, HyperSpy, DECTRIS "
        "master, or CSR frames), a Merlin .mib/.hdr, an EMPAD .xml, an .npy file, a "
        'libertem-raw JSON sidecar or a raw_csr TOML descriptor. For a headerless raw file give format "raw" with nav_shape, sig_shape and dtype.'
    )


def _is_nexus_master(path: str) -> bool:
    """True for an HDF5 file whose /entry/data/data_* are external links (DECTRIS masters)."""
    import h5py

    from apps.core.io.arina import ArinaDataSet

    try:
        with h5py.File(path, "r") as h5file:
            return ArinaDataSet.sniff(h5file)
    except H5_ERRORS:
        return False  # the HDF5 reader explains what is wrong with the file


def open_dataset(
    path: str,
    *,
    format: str | None = None,
    params: dict[str, Any] | None = None,
    allowed: AllowedFiles | None = None,
    node_roots: Mapping[str, str] | None = None,
    pinned: Pins | None = None,
) -> DataSet:
    """Open the dataset at ``path`` (for HDF5 optionally ``file.h5:/group/data``).

    With ``allowed`` (e.g. ``InFolders((root,))``), every file the dataset will open
    (:meth:`DataSet.references`, and the correction maps) is checked by its real path before
    it is read; ForbiddenReference names the first one refused and the link leading to it, and
    the partitions read only the files the check saw (``DataSet.pinned``), so a file swapped
    after the check is refused by the worker reading it. ``pinned`` (the ``pinned`` of the
    dataset opened with the check) does the same where a task reopens a checked dataset
    without ``allowed``.
    ``node_roots`` (the server's ``DATA_NODES``) are the storage roots of a sidecar written by
    ingestion; without them such a sidecar is refused.
    """
    if allowed is not None:
        check_files([Reference(split_h5_path(str(path))[0])], allowed)
    name = format or sniff_format(str(path))
    if name == "arina" and format is None and (params or {}).get("dataset"):
        name = "hdf5"  # one named dataset of the master file, read as plain HDF5
    try:
        cls = FORMATS[name]
    except KeyError:
        raise DataSetError(
            f"{path}: unknown format {name!r}; expected one of {', '.join(FORMATS)}."
        ) from None
    params = dict(params or {})
    correction_params = {k: params.pop(k) for k in CORRECTION_PARAMS if params.get(k) is not None}
    folder = os.path.dirname(split_h5_path(str(path))[0])
    if allowed is not None:
        refs = cls.references(str(path), params, allowed=allowed)
        refs += check_files(_correction_references(correction_params, folder=folder), allowed)
        pinned = pinned_files(refs)
    ds = _open_format(cls, str(path), params, node_roots)
    ds.pinned = pinned
    if allowed is not None:
        ds.checked = tuple(refs)
    threshold = hot_pixel_threshold(correction_params.pop("hot_pixels", None))
    if threshold is not None:
        # Detected once; the pixels go into the params, so reopening does not read the data.
        listed = pixel_mask(correction_params.get("excluded_pixels", []), ds.sig_shape)
        hot = pixel_mask(find_hot_pixels(ds, threshold=threshold), ds.sig_shape)
        pixels = np.argwhere(listed | hot).tolist()
        correction_params["excluded_pixels"] = pixels
    if not correction_params:
        return ds
    corrections = load_corrections(
        correction_params, folder=folder, sig_shape=ds.sig_shape, pinned=pinned
    )
    return with_corrections(ds, corrections, correction_params)


def _open_format(
    cls: Any, path: str, params: dict[str, Any], node_roots: Mapping[str, str] | None
) -> DataSet:
    # Node roots are no user parameter: they reach only the sidecar reader, as an argument.
    if cls is RawDataSet and path.endswith(".json") and not params:
        return RawDataSet.from_sidecar(path, node_roots=node_roots)
    ds: DataSet = cls.open(path, **params)
    return ds


def _correction_references(params: dict[str, Any], *, folder: str) -> list[Reference]:
    """The correction map files ``params`` name (relative to ``folder``, the dataset's)."""
    return [
        Reference(os.path.join(folder, params[name]), f"params.{name}", "the map", param=name)
        for name in CORRECTION_FILES
        if isinstance(params.get(name), str)
    ]


def with_corrections(
    ds: DataSet, corrections: Corrections | None, correction_params: dict[str, Any]
) -> DataSet:
    """``ds`` seen through ``corrections`` (dark, gain, excluded pixels); ``ds`` if None."""
    if corrections is None or corrections.empty:
        return ds
    return CorrectedDataSet(ds, corrections, correction_params)


def detect(path: str) -> dict[str, Any]:
    """Detect format and parameters of ``path``; returns :meth:`DataSet.describe`."""
    return open_dataset(path).describe()
