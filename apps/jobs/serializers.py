"""Jobs and masks as JSON for the API, the pages and websocket ``status`` messages."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.datasets.notes import notes_json
from apps.datasets.serializers import NOTES_FIELDS, SHAPE
from apps.jobs.extensions import extend_job_schema
from apps.jobs.kinds import KINDS
from apps.jobs.limits import queue_json
from apps.jobs.models import Job, Mask
from apps.jobs.selectors import job_seconds, job_throughput
from apps.jobs.summary import params_summary
from apps.results.serializers import RESULT, result_json
from apps.results.store import final_results
from apps.web.apidoc import ID, array, named, nullable, obj

_NUMBER = {"type": "number"}
_INTEGER = {"type": "integer"}
_TIME = nullable({"type": "string", "format": "date-time"})

_SLICE = {
    "type": "integer",
    "description": "Only on a scan of more than two axes: the one 2-d slice (flat index over "
    "the leading scan axes) the shape selects in; without it, every slice.",
}
#: A mask of any scan shape: nested lists of true/false, one level per scan axis.
_MASK = array(
    {"anyOf": [{"type": "boolean"}, {"type": "array"}]},
    description="Nested lists of true/false of the scan shape (one level per scan axis).",
)

#: A scan region of interest (apps.jobs.roi); positions outside the scan are refused (400).
#: rect and disk are on the last two scan axes.
ROI = named(
    "Roi",
    {
        "oneOf": [
            obj(
                required=("shape", "y", "x", "height", "width"),
                shape={"const": "rect"},
                y=_INTEGER,
                x=_INTEGER,
                height=_INTEGER,
                width=_INTEGER,
                slice=_SLICE,
            ),
            obj(
                required=("shape", "cy", "cx", "r"),
                shape={"const": "disk"},
                cy=_NUMBER,
                cx=_NUMBER,
                r=_NUMBER,
                slice=_SLICE,
            ),
            obj(required=("mask",), mask=_MASK),
        ]
    },
)

#: The answer to a submission: the job's id, status and where to follow it.
JOB_CREATED = obj(
    "JobCreated",
    id=ID,
    status={"type": "string", "enum": list(Job.Status.values)},
    url={"type": "string"},
    ws={"type": "string", "description": "The websocket that streams its events."},
    page={"type": "string"},
)

#: How a finished job's results were made (``apps.jobs.provenance``); submitting it as
#: ``record`` makes them again.
PROVENANCE = named(
    "Provenance",
    obj(
        source={"type": "string", "enum": ["builtin", "plugin"]},
        version={"type": "string", "description": "The portal's engine version, or the plugin's."},
        distribution={"type": "string", "description": "A plugin's distribution (package) name."},
        sha256={"type": "string", "description": "A plugin's code hash (see docs/plugins.md)."},
        entry_point={"type": "string"},
        record={"type": "integer", "description": "The version of the record's layout."},
        job=ID,
        dataset={
            "type": "object",
            "description": "id, name, format, nav_shape, sig_shape, dtype and identity (each "
            "file's name, size, mtime_ns, sha256 and how it was hashed: full or sampled).",
        },
        analysis={"type": "string"},
        params={"type": "object"},
        normalised_params=nullable({"type": "object"}),
        roi=nullable(ROI),
        engine_version={"type": "string"},
        git_revision={"type": "string"},
        executor={"type": "string", "enum": ["inline", "dask"]},
        workers=array({"type": "string"}),
        partitions=array(
            array(_INTEGER), description="The frame ranges [start, stop) the results merged."
        ),
        reused_from=ID | {"description": "A reused job's: the job whose record this is."},
    )
    | {
        "description": "Set when the job finishes; empty before (and for ingestions); see "
        "docs/cache.md."
    },
)

#: The JSON of :func:`job_json`.
JOB = obj(
    "Job",
    **JOB_CREATED["properties"],
    owner={"type": "string"},
    shared={
        "type": "boolean",
        "description": "Shown to everyone who may see the dataset (else owner and staff).",
    },
    dataset=ID,
    kind={"type": "string", "enum": list(Job.Kind.values)},
    analysis={"type": "string", "description": "The analysis's name; else the kind (ingest)."},
    params={"type": "object"},
    summary={"type": "string", "description": "The parameters and ROI in one short line."},
    roi=nullable(ROI),
    cancel_requested={"type": "boolean"},
    progress=obj(done=_INTEGER, total=_INTEGER) | {"description": "In frames."},
    bytes_read=_INTEGER,
    error={"type": "string"},
    created={"type": "string", "format": "date-time"},
    started=_TIME,
    finished=_TIME,
    seconds=nullable(_NUMBER),
    throughput_gbs=nullable(_NUMBER),
    attempt=_INTEGER,
    superseded_by=nullable(ID)
    | {"description": "The newer job that replaced this one while it waited or ran."},
    results_deleted=_TIME
    | {"description": "When staff deleted the results (retention); null while they are kept."},
    reused_from=nullable(ID)
    | {
        "description": "For a job of the kind reused (a result-cache hit): the finished job "
        "whose results it copied."
    },
    thumbnail=nullable({"type": "string"})
    | {"description": "A finished analysis's small PNG preview (else null)."},
    queue=nullable(obj(place=_INTEGER, running=_INTEGER, limit=_INTEGER))
    | {"description": "For a queued job: its place in your queue."},
    partitions=array({"type": "object"}, description="Per partition: frames, worker, time."),
    provenance=PROVENANCE,
    results=array(RESULT, description="A finished job's results (not in lists)."),
    **{
        name: schema | {"description": f"{schema['description']} Not in lists."}
        for name, schema in NOTES_FIELDS.items()
        if name != "metadata"
    },
)


# The fields of kinds of apps above this one (``apps.jobs.extensions.add_job_fields``).
extend_job_schema(JOB["properties"])


#: The JSON of :func:`mask_json`.
MASK = obj(
    "Mask", id=ID, dataset=ID, name={"type": "string"}, shape=SHAPE, dtype={"type": "string"}
)


def job_urls(job_id: int) -> dict[str, str]:
    return {
        "url": reverse("api_job_detail", args=[job_id]),
        "ws": f"/ws/jobs/{job_id}/",
        "page": reverse("job_detail", args=[job_id]),
    }


def job_json(job: Job, *, results: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.pk,
        **job_urls(job.pk),
        "owner": job.owner.get_username(),
        "shared": job.shared,
        "dataset": job.dataset_id,
        "kind": job.kind,
        # An ingest job runs no analysis; clients have always read its kind here.
        "analysis": job.title,
        "params": job.params,
        "summary": params_summary(job),
        "roi": job.roi,
        "status": job.status,
        "cancel_requested": job.cancel_requested,
        "progress": {"done": job.frames_done, "total": job.frames_total},
        "bytes_read": job.bytes_read,
        "error": job.error,
        "created": _time(job.created),
        "started": _time(job.started),
        "finished": _time(job.finished),
        "seconds": job_seconds(job),
        "throughput_gbs": job_throughput(job),
        "attempt": job.attempt,
        "superseded_by": job.superseded_by_id,
        "results_deleted": _time(job.results_deleted),
        "reused_from": job.reused_from_id,
        "thumbnail": thumbnail_url(job),
        "queue": queue_json(job),
        "partitions": [_partition(p) for p in job.partitions],
        "provenance": job.provenance,
    }
    kind = KINDS.get(job.kind)
    if kind is not None and kind.describe is not None:
        data.update(kind.describe(job))
    if results:
        # Only a finished job has results (they are stored with that status, in one transaction).
        finished = job.status == Job.Status.FINISHED
        data["results"] = [result_json(r) for r in final_results(job)] if finished else []
        notes = notes_json(job)
        del notes["metadata"]  # a job's file is its dataset's
        data.update(notes)
    return data


def thumbnail_url(job: Job) -> str | None:
    """Where a finished analysis's thumbnail is (None for other jobs: they have no result)."""
    if job.status != Job.Status.FINISHED or job.kind not in Job.ANALYSES:
        return None
    if job.results_deleted is not None:
        return None
    return reverse("job_thumbnail", args=[job.pk])


def mask_json(mask: Mask) -> dict[str, Any]:
    return {
        "id": mask.pk,
        "dataset": mask.dataset_id,
        "name": mask.name,
        "shape": list(mask.shape),
        "dtype": mask.dtype,
    }


def _partition(record: dict[str, Any]) -> dict[str, Any]:
    seconds = record.get("seconds") or 0
    gbs = record.get("nbytes", 0) / seconds / 1e9 if seconds > 0 else None
    return {**record, "gbs": gbs}


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
