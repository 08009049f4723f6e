"""Who may see or change what: the one place every view, endpoint and websocket asks.

A dataset is visible to its owner, to members of the groups it is shared with, and to staff.
A job (and with it its results, previews, downloads, reruns and websocket) is visible only to
whoever may see its dataset right now *and* owns the job, or the job's owner shared it, or is
staff: unsharing a dataset hides every job on it from those who lost the dataset, and a group
member never sees another member's unshared jobs. Only owners (and staff) change things.
An object a user may not see is reported as missing (404), never as forbidden.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.ids import object_id
from apps.datasets.models import Dataset
from apps.jobs.models import Job


def visible_datasets(user: Any) -> QuerySet[Dataset]:
    if not user.is_authenticated:
        return Dataset.objects.none()
    if user.is_staff:
        return Dataset.objects.all()
    return Dataset.objects.filter(Q(owner=user) | Q(groups__in=user.groups.all())).distinct()


def visible_jobs(user: Any) -> QuerySet[Job]:
    if not user.is_authenticated:
        return Job.objects.none()
    if user.is_staff:
        return Job.objects.all()
    datasets = visible_datasets(user).values("pk")
    return Job.objects.filter(Q(owner=user) | Q(shared=True), dataset__in=datasets)


def can_change(user: Any, obj: Dataset | Job) -> bool:
    return bool(user.is_authenticated and (user.is_staff or obj.owner_id == user.id))


def get_dataset(user: Any, pk: Any) -> Dataset:
    """The dataset ``pk`` if ``user`` may see it, else Http404 (also for ids out of range)."""
    try:
        return visible_datasets(user).get(pk=_pk(pk, "dataset"))
    except Dataset.DoesNotExist:
        raise Http404("No such dataset.") from None


def get_job(user: Any, pk: Any, *, related: tuple[str, ...] = ("dataset",)) -> Job:
    """The job ``pk`` if ``user`` may see it, else Http404; ``related``: rows fetched along."""
    try:
        return visible_jobs(user).select_related(*related).get(pk=_pk(pk, "job"))
    except Job.DoesNotExist:
        raise Http404("No such job.") from None


def _pk(value: Any, what: str) -> int:
    pk = object_id(value)
    if pk is None:
        raise Http404(f"No such {what}.")
    return pk
