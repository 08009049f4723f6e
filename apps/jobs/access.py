"""Who may see a job: the one place every view, endpoint and websocket asks.

A job (and with it its results, previews, downloads, reruns and websocket) is visible only to
whoever may see its dataset right now (the rule of ``apps.datasets.access``) *and* owns the job,
or the job's owner shared it, or is staff: unsharing a dataset hides every job on it from those
who lost the dataset, and a group member never sees another member's unshared jobs. Only the
job's owner (and staff) change it: ``apps.datasets.access.can_change``. A job a user may not see
is reported as missing (404), never as forbidden.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.datasets.access import visible_datasets
from apps.jobs.models import Job
from apps.web.ids import id_or_404


def visible_jobs(user: Any) -> QuerySet[Job]:
    if not user.is_authenticated:
        return Job.objects.none()
    if user.is_staff:
        return Job.objects.all()
    datasets = visible_datasets(user).values("pk")
    return Job.objects.filter(Q(owner=user) | Q(shared=True), dataset__in=datasets)


def get_job(user: Any, pk: Any, *, related: tuple[str, ...] = ("dataset",)) -> Job:
    """The job ``pk`` if ``user`` may see it, else Http404; ``related``: rows fetched along."""
    try:
        return visible_jobs(user).select_related(*related).get(pk=id_or_404(pk, "job"))
    except Job.DoesNotExist:
        raise Http404("No such job.") from None
