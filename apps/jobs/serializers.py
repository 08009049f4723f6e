"""Jobs and masks as JSON for the API, the pages and websocket ``status`` messages."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.jobs.models import Job, Mask
from apps.jobs.scheduling import queue_json
from apps.jobs.selectors import job_seconds, job_throughput
from apps.results.serializers import result_json
from apps.results.store import final_results


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
        "analysis": job.analysis,
        "params": job.params,
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
        "queue": queue_json(job),
        "partitions": [_partition(p) for p in job.partitions],
    }
    if results:
        # Only a finished job has results (they are stored with that status, in one transaction).
        finished = job.status == Job.Status.FINISHED
        data["results"] = [result_json(r) for r in final_results(job)] if finished else []
    return data


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
