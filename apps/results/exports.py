"""Result arrays as downloadable files: .npy, .h5 (with provenance and units), float32 .tiff,
.png."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import tifffile
from PIL import Image

from apps.core.errors import ParameterError
from apps.datasets.serializers import dataset_identity, dataset_json
from apps.results.colormap import colorize
from apps.results.npy import npy_dumps
from apps.results.preview import preview_image
from apps.results.units import result_axes, value_units

if TYPE_CHECKING:
    from apps.jobs.models import Job

CONTENT_TYPES = {
    "npy": "application/octet-stream",
    "h5": "application/x-hdf5",
    "tiff": "image/tiff",
    "png": "image/png",
}
#: The formats of a running job's partial preview (a 2-d float32 image).
PREVIEW_FORMATS = ("npy", "png")


def export(array: np.ndarray, fmt: str, *, job: Job, name: str, viewer: Any) -> bytes:
    """``array`` in format ``fmt`` for ``viewer``; ParameterError if the format does not fit."""
    if fmt == "npy":
        return npy_dumps(array)
    if fmt == "h5":
        return to_h5(array, job=job, name=name, full=bool(viewer.is_staff))
    if fmt == "tiff":
        return to_tiff(array)
    if fmt == "png":
        return to_png(array, tuple(job.dataset.nav_shape))
    raise ParameterError("format", f"must be one of {', '.join(CONTENT_TYPES)}, got {fmt!r}.")


def to_h5(array: np.ndarray, *, job: Job, name: str, full: bool = False) -> bytes:
    """The array as ``/<name>`` with its provenance and units as attributes, also reachable
    as the signal of a NeXus ``/entry/result`` (NXdata) group whose axes carry coordinates in
    nm, mrad or 1/nm where the dataset is calibrated (see :mod:`apps.results.units`), and
    ``/entry/process`` (NXprocess) saying how it was made (docs/formats.md)."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        dset = f.create_dataset(name, data=array)
        for key, value in {**provenance(job, full=full), **value_units(job, name)}.items():
            dset.attrs[key] = value
        _nexus_group(f, dset, result_axes(job, name, array.shape))
        _nexus_process(f["entry"], job)
    return buf.getvalue()


def _nexus_process(entry: h5py.Group, job: Job) -> None:
    """``/entry/process``: an NXprocess naming the program, its version and the date, with
    the job's provenance record as an NXnote (JSON) and its main fields as datasets."""
    record = job.provenance or {}
    entry["title"] = f"{job.title} on {job.dataset.name} (job {job.pk})"
    if job.finished is not None:
        entry["end_time"] = job.finished.isoformat()
    process = entry.create_group("process")
    process.attrs["NX_class"] = "NXprocess"
    process["program"] = "LiberTEM Portal"
    process["version"] = str(record.get("engine_version") or record.get("version") or "")
    process["sequence_index"] = 1
    if job.finished is not None:
        process["date"] = job.finished.isoformat()
    for key in ("analysis", "executor", "git_revision"):
        if record.get(key):
            process[key] = str(record[key])
    note = process.create_group("provenance")
    note.attrs["NX_class"] = "NXnote"
    note["type"] = "application/json"
    note["description"] = (
        'The job\'s provenance record; POST it to /api/jobs/ as {"record": ...} to compute '
        "the result again, bit for bit."
    )
    note["data"] = json.dumps(record)


def _nexus_group(f: h5py.File, dset: h5py.Dataset, axes: list[Any]) -> None:
    """``/entry/result``: an NXdata group linking the result and one axis dataset per
    dimension, so NeXus readers (and this portal) plot it with its physical axes."""
    f.attrs.update({"NX_class": "NXroot", "default": "entry"})
    entry = f.create_group("entry")
    entry.attrs.update({"NX_class": "NXentry", "default": "result"})
    group = entry.create_group("result")
    name = dset.name.lstrip("/")
    group[name] = dset  # a hard link: the same data under both names
    group.attrs.update({"NX_class": "NXdata", "signal": name})
    if not axes:
        return
    group.attrs["axes"] = [axis.name for axis in axes]
    for k, axis in enumerate(axes):
        group[axis.name] = axis.values
        group[axis.name].attrs["units"] = axis.units
        group.attrs[f"{axis.name}_indices"] = k


def provenance(job: Job, *, full: bool = False) -> dict[str, Any]:
    """Attributes that say where a result came from (JSON strings for structured values).

    The dataset is named by its catalogue identity; only with ``full`` (staff) does it carry
    the whole catalogue row, server paths included: a downloaded file travels further than the
    portal's access rules.
    """
    dataset = dataset_json(job.dataset) if full else dataset_identity(job.dataset)
    return {
        "analysis": job.analysis,
        "params": json.dumps(job.params),
        "roi": json.dumps(job.roi),
        "dataset": json.dumps(dataset),
        "job": job.pk,
        # Which code made the result: the portal's engine version, or a plugin's distribution,
        # version and code hash (docs/plugins.md).
        "provenance": json.dumps(job.provenance),
    }


def to_tiff(array: np.ndarray) -> bytes:
    if array.ndim != 2:
        raise ParameterError(
            "format",
            f"TIFF is for 2-d results; this one has shape {list(array.shape)} (use .npy or .h5).",
        )
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(array, dtype=np.float32))
    return buf.getvalue()


def to_png(array: np.ndarray, nav_shape: tuple[int, ...] = ()) -> bytes:
    """The preview image (a scan of more than two axes: its slices one under the other)."""
    buf = io.BytesIO()
    Image.fromarray(colorize(preview_image(array, nav_shape))).save(buf, format="PNG")
    return buf.getvalue()
