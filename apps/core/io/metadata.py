"""What a data file says about its acquisition, as ``{key: text}`` for the catalogue.

* HDF5, NeXus and DECTRIS Arina masters: the attributes of the file's groups and the small
  datasets beside the data (at most :data:`SMALL_VALUES` values each: a voltage, a count time,
  a sensor material), keyed by their path inside the file, with their ``units`` attribute.
  Only the file's own objects are read: links to other files and soft links are not followed,
  and large datasets are skipped unread.
* Merlin: every ``key: value`` line of the acquisition's ``.hdr`` (the parenthesised lists of
  choices dropped from the keys), and the frame header's layout.
* Other formats carry no such metadata: an empty mapping.

At most :data:`MAX_ENTRIES` entries; keys are at most :data:`KEY_MAX` characters (the tail of
a long path) and values :data:`VALUE_MAX`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.core.io.base import DataSet
from apps.core.io.h5path import split_h5_path
from apps.core.io.mib import acquisition_files

if TYPE_CHECKING:  # imported where an HDF5 file is read: registering an .npy file needs it not
    import h5py

MAX_ENTRIES = 100
MAX_NODES = 2000
SMALL_VALUES = 8
KEY_MAX = 64
VALUE_MAX = 500
_PARENTHESES = re.compile(r"\s*\([^)]*\)")
_SKIPPED_ATTRS = {"NX_class", "units", "signal", "axes", "interpretation", "target"}


def file_metadata(ds: DataSet) -> dict[str, str]:
    """The metadata of the file behind ``ds`` (see the module's description)."""
    if ds.format in ("hdf5", "arina"):
        return hdf5_metadata(split_h5_path(ds.path)[0])
    if ds.format == "mib":
        return merlin_metadata(ds.path)
    return {}


def hdf5_metadata(path: str) -> dict[str, str]:
    import h5py

    out: dict[str, str] = {}
    try:
        with h5py.File(path, "r") as h5file:
            _walk(h5file, "", out, budget=[MAX_NODES])
    except (OSError, ValueError):  # not readable after all: no metadata rather than no dataset
        return out
    return out


def _walk(group: h5py.Group, prefix: str, out: dict[str, str], budget: list[int]) -> None:
    import h5py

    _attrs(group, prefix, out)
    for name in group:
        budget[0] -= 1
        if budget[0] < 0 or len(out) >= MAX_ENTRIES:
            return
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue  # external and soft links lead elsewhere: not this file's own metadata
        item = group.get(name)
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(item, h5py.Group):
            _walk(item, path, out, budget)
        elif isinstance(item, h5py.Dataset) and item.size <= SMALL_VALUES and item.ndim <= 1:
            text = _text(_read_small(item))
            if text:
                units = _text(item.attrs.get("units"))
                _put(out, path, f"{text} {units}" if units else text)


def _read_small(item: h5py.Dataset) -> Any:
    try:
        return item[()]
    except (OSError, TypeError, ValueError):  # a filter that is not installed, say
        return None


def _attrs(obj: h5py.HLObject, prefix: str, out: dict[str, str]) -> None:
    for name in obj.attrs:
        if name in _SKIPPED_ATTRS or len(out) >= MAX_ENTRIES:
            continue
        try:
            value = obj.attrs[name]
        except (OSError, TypeError, ValueError):
            continue
        text = _text(value)
        if text:
            _put(out, f"{prefix}@{name}" if prefix else f"@{name}", text)


def _text(value: Any) -> str:
    """A scalar, a string or a short array as text; "" for anything else."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip("\0 ").strip()
    if isinstance(value, str):
        return value.strip()
    arr = np.asarray(value)
    if arr.dtype.kind in "SUO":
        items = [_text(v) for v in arr.ravel()[:SMALL_VALUES]]
        return ", ".join(i for i in items if i)
    if arr.dtype.kind not in "biuf" or arr.size > SMALL_VALUES:
        return ""
    if arr.ndim == 0:
        return f"{arr.item():g}" if arr.dtype.kind == "f" else str(arr.item())
    return ", ".join(f"{v:g}" if arr.dtype.kind == "f" else str(v) for v in arr.ravel().tolist())


def merlin_metadata(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    _, hdr = acquisition_files(Path(path))
    if hdr is None:
        return out
    try:
        text = hdr.read_bytes()[:65536].decode("ascii", errors="replace")
    except OSError:
        return out
    for line in text.replace("\0", "").splitlines()[1:]:
        key, sep, value = line.partition(":")
        key = _PARENTHESES.sub("", key).strip()
        if sep and key and value.strip() and len(out) < MAX_ENTRIES:
            _put(out, key, value.strip())
    return out


def _put(out: dict[str, str], key: str, value: str) -> None:
    while len(key) > KEY_MAX and "/" in key:
        key = key.split("/", 1)[1]
    out.setdefault(key[-KEY_MAX:], value[:VALUE_MAX])
