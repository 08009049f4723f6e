"""HDF5 layout conventions that name the 4D-STEM dataset and calibrate its axes.

* EMD 1.0 (py4DSTEM / emdfile): a group with ``emd_group_type = "array"`` holding ``data`` and
  ``dim0`` ... ``dim{n-1}`` (axis values, or just ``[start, start + step]``).
* EMD 0.2 / 0.5 (Prismatic, NCEM): a group with ``emd_group_type = 1`` holding one n-d dataset
  (``data`` or ``datacube``) and ``dim1`` ... ``dim{n}``.
* HyperSpy ``.hspy``: ``/Experiments/<title>/data`` with ``axis-0`` ... groups (``scale``,
  ``offset``, ``units``, ``name`` attributes).
* NeXus: a group with ``NX_class = "NXdata"``, its ``signal`` attribute naming the data and
  ``axes`` naming one axis dataset per dimension (``units`` attribute).

:func:`find_datacube` returns the largest dataset (at least 3-d) such a convention names, with a
calibration per axis: ``{"name", "units", "scale", "offset"}`` (``None`` where unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

Axis = dict[str, Any]


@dataclass
class Datacube:
    """A dataset a convention names: its path, the convention and per-axis calibration."""

    path: str
    convention: str
    shape: tuple[int, ...]
    axes: list[Axis] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return _text(value.item()) if value.size == 1 else None
    return str(value)


def _axis_from_values(dset: Any) -> Axis:
    """Calibration of an axis given as values (``dimK`` / NeXus axis datasets)."""
    axis: Axis = {
        "name": _text(dset.attrs.get("name")) if isinstance(dset, h5py.Dataset) else None,
        "units": _text(dset.attrs.get("units")) if isinstance(dset, h5py.Dataset) else None,
        "scale": None,
        "offset": None,
    }
    if isinstance(dset, h5py.Dataset) and dset.ndim == 1 and dset.shape[0] >= 2:
        values = dset[:2].astype(np.float64)
        axis["offset"], axis["scale"] = float(values[0]), float(values[1] - values[0])
    return axis


def _emd(group: h5py.Group, path: str) -> Datacube | None:
    kind = group.attrs.get("emd_group_type")
    kind = _text(kind) if not isinstance(kind, int | np.integer) else int(kind)
    if kind == "array":
        name, first_dim, convention = "data", 0, "EMD 1.0"
    elif kind == 1:
        names = [n for n in ("data", "datacube") if isinstance(group.get(n), h5py.Dataset)]
        if not names:
            return None
        name, first_dim, convention = names[0], 1, "EMD 0.2"
    else:
        return None
    dset = group.get(name)
    if not isinstance(dset, h5py.Dataset):
        return None
    axes = [_axis_from_values(group.get(f"dim{first_dim + k}")) for k in range(dset.ndim)]
    return Datacube(f"{path}/{name}", convention, tuple(dset.shape), axes)


def _hyperspy(group: h5py.Group, path: str) -> Datacube | None:
    dset = group.get("data")
    if not isinstance(dset, h5py.Dataset) or not path.startswith("/Experiments/"):
        return None
    axes = []
    for k in range(dset.ndim):
        attrs = getattr(group.get(f"axis-{k}"), "attrs", {})
        axes.append(
            {
                "name": _text(attrs.get("name")),
                "units": _text(attrs.get("units")),
                "scale": _number(attrs.get("scale")),
                "offset": _number(attrs.get("offset")),
            }
        )
    return Datacube(f"{path}/data", "HyperSpy", tuple(dset.shape), axes)


def _nxdata(group: h5py.Group, path: str) -> Datacube | None:
    if _text(group.attrs.get("NX_class")) != "NXdata":
        return None
    signal = _text(group.attrs.get("signal")) or "data"
    dset = group.get(signal)
    if not isinstance(dset, h5py.Dataset):
        return None
    names = group.attrs.get("axes")
    names = [_text(n) for n in np.atleast_1d(names)] if names is not None else []
    axes = []
    for k in range(dset.ndim):
        name = names[k] if k < len(names) else None
        axis = (
            _axis_from_values(group.get(name)) if name and name != "." else _axis_from_values(None)
        )
        axis["name"] = axis["name"] or (name if name != "." else None)
        axes.append(axis)
    return Datacube(f"{path}/{signal}", "NeXus NXdata", tuple(dset.shape), axes)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def find_datacube(h5file: h5py.File) -> Datacube | None:
    """The largest (at least 3-d) dataset named by a known convention, or None."""
    found = _datacubes(h5file)
    if not found:
        return None
    return max(found, key=lambda c: (int(np.prod(c.shape)), len(c.shape) == 4))


def named_datacube(h5file: h5py.File, path: str) -> Datacube | None:
    """The convention's description of the dataset at ``path``, or None if none names it.

    A dataset chosen by name (the ``dataset`` parameter, ``file.h5:/inner/path``, or the
    parameters the registration page fills in from detection) keeps its calibration.
    """
    wanted = "/" + path.strip("/")
    return next((c for c in _datacubes(h5file) if c.path == wanted), None)


def _datacubes(h5file: h5py.File) -> list[Datacube]:
    """Every (at least 3-d) dataset a known convention names."""
    found: list[Datacube] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group):
            for reader in (_emd, _hyperspy, _nxdata):
                cube = reader(obj, "/" + name)
                if cube is not None and len(cube.shape) >= 3:
                    found.append(cube)
                    return

    h5file.visititems(visit)
    return found
