"""The JSON form of a catalogue row, used by the API and embedded in pages."""

from __future__ import annotations

from typing import Any

from apps.datasets.models import Dataset


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
        "status": dataset.status,
        "error": dataset.error,
        "created": dataset.created.isoformat(),
        "url": f"/api/datasets/{dataset.pk}/",
        "page": f"/datasets/{dataset.pk}/",
    }


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
