"""The interactive analysis page of a dataset and the one fast endpoint it needs.

The page is server-rendered once; everything interactive (detector shapes, live scan image,
display controls) runs in static/js/analysis.js against the job API. The frame endpoint reads
one detector frame synchronously: picking a scan position must answer in milliseconds, not
wait for a job.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.core.analyses import describe_analyses
from apps.core.io.base import Partition
from apps.datasets.access import get_dataset
from apps.datasets.models import Dataset
from apps.datasets.serializers import dataset_calibrated, dataset_pixel_size
from apps.datasets.services import dataset_open
from apps.jobs.access import visible_jobs
from apps.jobs.models import Job
from apps.results.npy import npy_dumps
from apps.web.api import ApiError, api_view
from apps.web.apidoc import Operation, Query, Reply

# One frame is read with the partition layout of a registration: fine-grained enough that
# finding the partition is cheap, and the read touches only the frame's own bytes.
FRAME_PARTITION_BYTES = 64 * 2**20
_ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)


@login_required
def dataset_analyze(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    context = {
        "dataset": dataset,
        "page_config": _page_config(request, dataset),
    }
    return render(request, "analysis/analyze.html", context)


_POSITION = {"type": "integer", "minimum": 0}


@api_view(
    get=Operation(
        "One detector frame at scan position (y, x), as float32 .npy (sig_shape)",
        query=(
            Query("y", _POSITION, "Scan row (may be left out for a one-row scan).", False),
            Query("x", _POSITION, "Scan column.", True),
            Query(
                "slice",
                _POSITION,
                "On a scan of more than two axes: the 2-d slice, the flat index over the "
                "leading scan axes (default 0); (y, x) are on the last two.",
                False,
            ),
        ),
        replies={200: Reply("The frame.", files=("application/octet-stream",))},
        errors={
            400: "Besides malformed input: a position outside the scan, or data that cannot "
            "be read.",
            404: "No such dataset, or one you may not see.",
        },
    )
)
def api_dataset_frame(request: HttpRequest, pk: int) -> HttpResponse:
    """One detector frame at scan position ``(y, x)`` as float32 .npy bytes."""
    dataset = get_dataset(request.user, pk)
    index = _frame_index(dataset, request.GET)
    frame = _read_frame(dataset, index)
    response = HttpResponse(npy_dumps(frame), content_type="application/octet-stream")
    # The data of a registered dataset does not change; let the browser reuse picked frames.
    response["Cache-Control"] = "private, max-age=300"
    return response


def _page_config(request: HttpRequest, dataset: Dataset) -> dict[str, Any]:
    """Everything analysis.js needs to start, embedded as JSON in the page."""
    sum_job = _latest_sum_job(request.user, dataset, Job.Status.FINISHED)
    # A sum job still running (another tab, a reload) is joined rather than started again.
    running = None if sum_job else _latest_sum_job(request.user, dataset, *_ACTIVE)
    return {
        "dataset": {
            "id": dataset.pk,
            "name": dataset.name,
            "nav_shape": list(dataset.nav_shape),
            "sig_shape": list(dataset.sig_shape),
            "dtype": dataset.dtype,
            "frame_bytes": int(np.prod(dataset.sig_shape)) * np.dtype(dataset.dtype).itemsize,
            "status": dataset.status,
            # scale bars and physical read-outs: a scan step in nm, a detector pixel in mrad
            # or 1/nm (None where not calibrated)
            "pixel_size": dataset_pixel_size(dataset),
            # the values parameters declared with a calibration quantity start from
            "calibrated": dataset_calibrated(dataset),
        },
        "analyses": describe_analyses(),
        "sum_job": sum_job.pk if sum_job else None,
        "sum_job_running": running.pk if running else None,
        # with Celery, jobs run in worker processes and outlive a restart of the web process;
        # in the embedded default they run in it, and a restart ends them
        "jobs_outlive_restart": settings.JOB_RUNNER == "celery",
        "urls": {
            "jobs": "/api/jobs/",
            "masks": "/api/masks/",
            "frame": reverse("api_dataset_frame", args=[dataset.pk]),
            "dataset_page": _dataset_page_url(dataset),
        },
        "origin": request.build_absolute_uri("/").rstrip("/"),
        "user": request.user.get_username(),
    }


def _latest_sum_job(user: Any, dataset: Dataset, *statuses: str) -> Job | None:
    """The newest whole-scan ``sum`` job of ``user`` on ``dataset`` in ``statuses``.

    Only the viewer's own: the page must not open on (or expose) another user's job.
    """
    return (
        visible_jobs(user)
        .filter(owner=user, dataset=dataset, analysis="sum", status__in=statuses)
        .filter(roi__isnull=True)
        .order_by("-created", "-id")
        .first()
    )


def _dataset_page_url(dataset: Dataset) -> str | None:
    try:
        return reverse("dataset_detail", args=[dataset.pk])
    except Exception:  # the catalogue pages may not be routed (yet)
        return None


def _frame_index(dataset: Dataset, query: Any) -> int:
    """The flattened frame index of ``?y=&x=`` on the last two scan axes (``y`` may be omitted
    for a 1-d scan), and ``?slice=`` (the flat index over the leading axes, default 0) on a longer scan."""
    nav = [int(d) for d in dataset.nav_shape]
    if len(nav) == 1:
        nav = [1, nav[0]]
    ny, nx = nav[-2:]
    slices = math.prod(nav[:-2])
    y = _coordinate(query, "y", ny, default=0 if ny == 1 else None)
    x = _coordinate(query, "x", nx)
    index = _coordinate(query, "slice", slices, default=0)
    return (index * ny + y) * nx + x


WHAT = {"y": "row", "x": "column", "slice": "slice"}


def _coordinate(query: Any, name: str, size: int, *, default: int | None = None) -> int:
    raw = query.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(
            f"Give the scan {WHAT[name]} as ?{name}= a whole number from 0 to {size - 1}.",
            fields={name: f"must be a whole number from 0 to {size - 1}, got {raw!r}."},
        ) from None
    if not 0 <= value < size:
        raise ApiError(
            f"Scan position {name}={value} is outside the scan (0 to {size - 1}).",
            fields={name: f"must be from 0 to {size - 1}, got {value}."},
        )
    return value


def _read_frame(dataset: Dataset, index: int) -> np.ndarray:
    """Frame ``index`` as ``sig_shape`` float32 (exact for every supported integer dtype
    up to 24 bits; the browser colours it, it does not compute with it)."""
    ds = dataset_open(dataset)
    part = _partition_of(ds.partitions(target_bytes=FRAME_PARTITION_BYTES), index)
    try:
        rows = part.read(index, index + 1)
        return np.asarray(rows, dtype=np.float32).reshape(ds.sig_shape)
    finally:
        part.close()


def _partition_of(partitions: list[Partition], index: int) -> Partition:
    for part in partitions:
        if part.start <= index < part.stop:
            return part
    raise ApiError(f"Frame {index} is not in any partition of the dataset.", status=404)
