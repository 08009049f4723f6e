"""Results as JSON for the API, the pages and websocket messages."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.results.exports import CONTENT_TYPES
from apps.results.models import Result
from apps.web.apidoc import array, obj

#: The JSON of :func:`result_json`.
RESULT = obj(
    "Result",
    name={"type": "string"},
    shape=array({"type": "integer", "minimum": 0}),
    dtype={"type": "string"},
    nbytes={"type": "integer", "minimum": 0},
    urls={
        "type": "object",
        "description": "The download URL per format (tiff only for 2-d results).",
        "propertyNames": {"enum": list(CONTENT_TYPES)},
        "additionalProperties": {"type": "string"},
    },
)


def result_json(result: Result) -> dict[str, Any]:
    urls = {
        fmt: reverse("result_download", args=[result.job_id, result.name, fmt])
        for fmt in CONTENT_TYPES
        if fmt != "tiff" or len(result.shape) == 2
    }
    return {
        "name": result.name,
        "shape": list(result.shape),
        "dtype": result.dtype,
        "nbytes": result.nbytes,
        "urls": urls,
    }
