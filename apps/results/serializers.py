"""Results as JSON for the API, the pages and websocket messages."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.results.models import Result

FORMATS = ("npy", "h5", "tiff", "png")


def result_json(result: Result) -> dict[str, Any]:
    urls = {
        fmt: reverse("result_download", args=[result.job_id, result.name, fmt])
        for fmt in FORMATS
        if fmt != "tiff" or len(result.shape) == 2
    }
    return {
        "name": result.name,
        "shape": list(result.shape),
        "dtype": result.dtype,
        "nbytes": result.nbytes,
        "urls": urls,
    }
