"""Result arrays as downloadable files: .npy, .h5 (with provenance), float32 .tiff, .png."""

from __future__ import annotations

import io
import json
from typing import Any

import h5py
import numpy as np
import tifffile
from PIL import Image

from apps.core.errors import ParameterError
from apps.datasets.serializers import dataset_identity, dataset_json
from apps.jobs.models import Job
from apps.results.colormap import colorize
from apps.results.npy import npy_dumps
from apps.results.preview import preview_image

CONTENT_TYPES = {
    "npy": "application/octet-stream",
    "h5": "application/x-hdf5",
    "tiff": "image/tiff",
    "png": "image/png",
}


def export(array: np.ndarray, fmt: str, *, job: Job, name: str, viewer: Any) -> bytes:
    """``array`` in format ``fmt`` for ``viewer``; ParameterError if the format does not fit."""
    if fmt == "npy":
        return npy_dumps(array)
    if fmt == "h5":
        return to_h5(array, job=job, name=name, full=bool(viewer.is_staff))
    if fmt == "tiff":
        return to_tiff(array)
    if fmt == "png":
        return to_png(array)
    raise ParameterError("format", f"must be one of {', '.join(CONTENT_TYPES)}, got {fmt!r}.")


def to_h5(array: np.ndarray, *, job: Job, name: str, full: bool = False) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        dset = f.create_dataset(name, data=array)
        for key, value in provenance(job, full=full).items():
            dset.attrs[key] = value
    return buf.getvalue()


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


def to_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(colorize(preview_image(array))).save(buf, format="PNG")
    return buf.getvalue()
