"""The JSON form of a catalogue row, used by the API and embedded in pages."""

from __future__ import annotations

from typing import Any

from apps.core.io import FORMATS
from apps.datasets.calibration import calibrated_values, pixel_size
from apps.datasets.models import Dataset, Thumbnail
from apps.datasets.notes import notes_json
from apps.web.apidoc import ID, array, nullable, obj

SHAPE = array({"type": "integer", "minimum": 1})

PARTITION = obj(
    "Partition",
    index={"type": "integer"},
    start={"type": "integer", "description": "First flat frame index."},
    stop={"type": "integer", "description": "One past the last frame."},
    nodes=array({"type": "string"}, description="The dask workers holding it (empty: any)."),
)

IMAGE_PIXEL = obj(
    "ImagePixel",
    y={"type": "number", "description": "Height of a pixel."},
    x={"type": "number", "description": "Width of a pixel."},
    units={"type": "string", "enum": ["nm", "mrad", "1/nm"]},
)

TEXT_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

#: Notes, tags and annotations, as datasets and jobs carry them (apps.datasets.notes).
NOTES_FIELDS = {
    "notes": {"type": "string", "description": "Free text by the owner (or staff)."},
    "tags": array({"type": "string"}, description="Tags, sorted (any case)."),
    "annotations": TEXT_MAP
    | {"description": "Key-value annotations people wrote: sample, microscope, voltage ..."},
    "metadata": TEXT_MAP
    | {"description": "Key-value metadata detected in the file at registration (read-only)."},
}

THUMBNAILS = obj(
    "Thumbnails",
    mean=nullable({"type": "string"})
    | {"description": "URL of the mean frame's PNG (null: not computed yet)."},
    adf=nullable({"type": "string"})
    | {"description": "URL of the virtual annular dark-field image's PNG (null: not yet)."},
)

#: The JSON of :func:`dataset_json`.
DATASET = obj(
    "Dataset",
    id=ID,
    name={"type": "string"},
    owner={"type": "string"},
    groups=array({"type": "string"}, description="The groups it is shared with."),
    format={"type": "string", "enum": list(FORMATS)},
    path={"type": "string", "description": "Where the data lies on the server."},
    params={"type": "object", "description": "Format parameters; with path they reopen it."},
    nav_shape=SHAPE,
    sig_shape=SHAPE,
    dtype={"type": "string", "examples": ["<u2"]},
    nbytes={"type": "integer", "minimum": 0},
    partitions=array(PARTITION),
    calibration=array(
        {"type": "object"},
        description="Per axis (scan, then detector): name, units, scale, offset.",
    ),
    pixel_size=obj(
        "PixelSize",
        scan=nullable(IMAGE_PIXEL)
        | {"description": "One scan step (null: not calibrated); units is always nm."},
        detector=nullable(IMAGE_PIXEL)
        | {"description": "One detector pixel (null: not calibrated); mrad or 1/nm."},
    ),
    beam_energy=nullable({"type": "number"}) | {"description": "keV (null: not known)."},
    convergence_angle=nullable({"type": "number"})
    | {"description": "The convergence semi-angle in mrad (null: not known)."},
    calibrated=obj(
        "CalibratedValues",
        beam_energy={"type": "number", "description": "keV"},
        convergence_angle={"type": "number", "description": "mrad"},
        scan_step={"type": "number", "description": "nm"},
        detector_pixel={"type": "number", "description": "mrad"},
    )
    | {
        "description": "The calibrated quantities analysis parameters default from (those "
        "known); a detector pixel in 1/nm is given in mrad through the beam's wavelength."
    },
    status={"type": "string", "enum": list(Dataset.Status.values)},
    origin={
        "type": "string",
        "enum": list(Dataset.Origin.values),
        "description": "file: registered from a file; live: recorded by a live session.",
    },
    error={"type": "string", "description": "Why the status is error."},
    created={"type": "string", "format": "date-time"},
    url={"type": "string"},
    page={"type": "string"},
    thumbnails=THUMBNAILS,
    **NOTES_FIELDS,
)


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.pk,
        "name": dataset.name,
        "owner": dataset.owner.username,
        "groups": sorted(g.name for g in dataset.groups.all()),
        "format": dataset.format,
        "path": dataset.path,
        "params": dataset.params,
        "nav_shape": dataset.nav_shape,
        "sig_shape": dataset.sig_shape,
        "dtype": dataset.dtype,
        "nbytes": dataset.nbytes,
        "partitions": dataset.partitions,
        "calibration": dataset.calibration,
        "pixel_size": dataset_pixel_size(dataset),
        "beam_energy": dataset.beam_energy,
        "convergence_angle": dataset.convergence_angle,
        "calibrated": dataset_calibrated(dataset),
        "status": dataset.status,
        "origin": dataset.origin,
        "error": dataset.error,
        "created": dataset.created.isoformat(),
        "url": f"/api/datasets/{dataset.pk}/",
        "page": f"/datasets/{dataset.pk}/",
        "thumbnails": thumbnail_urls(dataset),
        **notes_json(dataset),
    }


def thumbnail_urls(dataset: Dataset) -> dict[str, str | None]:
    """The URL of each thumbnail kind (None where there is none yet); the query part changes
    with every new image, so browsers may keep one as long as they like."""
    urls: dict[str, str | None] = dict.fromkeys(Thumbnail.Kind.values)
    for thumbnail in dataset.thumbnails.all():
        stamp = int(thumbnail.created.timestamp())
        urls[thumbnail.kind] = f"/datasets/{dataset.pk}/thumbnails/{thumbnail.kind}.png?v={stamp}"
    return urls


def dataset_pixel_size(dataset: Dataset) -> dict[str, Any]:
    """The size of a scan step and of a detector pixel in nm, mrad or 1/nm (None: unknown)."""
    return pixel_size(dataset.calibration, list(dataset.nav_shape), list(dataset.sig_shape))


def dataset_calibrated(dataset: Dataset) -> dict[str, float]:
    """The calibrated quantities analysis parameters default from (see
    :func:`apps.datasets.calibration.calibrated_values`)."""
    return calibrated_values(
        calibration=dataset.calibration,
        nav_shape=list(dataset.nav_shape),
        sig_shape=list(dataset.sig_shape),
        beam_energy=dataset.beam_energy,
        convergence_angle=dataset.convergence_angle,
    )


def dataset_identity(dataset: Dataset) -> dict[str, Any]:
    """Which dataset, without where it lies on the server (for files that leave the portal)."""
    return {
        "id": dataset.pk,
        "name": dataset.name,
        "owner": dataset.owner.username,
        "format": dataset.format,
        "nav_shape": dataset.nav_shape,
        "sig_shape": dataset.sig_shape,
        "dtype": dataset.dtype,
        "created": dataset.created.isoformat(),
        "url": f"/api/datasets/{dataset.pk}/",
    }
