"""Notes, tags and annotations on a job's results: the rules of ``apps.datasets.notes``, here
for jobs (visible to whoever may see the job, changed by its owner and staff)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from apps.datasets.access import can_change
from apps.datasets.notes import notes_apply
from apps.jobs.models import Job


def job_annotate(*, user: Any, job: Job, **changes: Any) -> Job:
    """Replace the ``notes``, ``tags`` or ``annotations`` of ``job`` (those given; None
    clears); owner or staff only. ValidationError keyed by the field."""
    if not can_change(user, job):
        raise PermissionDenied("Only the owner of a job (or staff) can change its notes.")
    notes_apply(job, **changes)
    return job
