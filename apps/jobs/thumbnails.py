"""Queueing the catalogue's thumbnails: a ``thumbnail`` job per dataset, owned by the dataset's
owner, run by the one driver like every job (``apps.jobs.kinds.thumbnail``).

They are queued when a dataset is registered (``THUMBNAILS_ON_REGISTER``, on by default), when
an ingestion finishes on a dataset that has none, when its owner asks (the dataset page's
button, ``POST /api/datasets/<id>/thumbnails/``), and for datasets registered before by
``manage.py thumbnails``. A dataset with a thumbnail job waiting or running gets no second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet

from apps.datasets.access import can_change
from apps.datasets.models import Dataset
from apps.jobs import queue
from apps.jobs.kinds.thumbnail import UNFINISHED, thumbnail_job_create
from apps.jobs.models import Job


def thumbnails_request(*, dataset: Dataset, enqueue: bool = True) -> Job:
    """Queue the thumbnails of ``dataset`` (the waiting or running job if there is one)."""
    with transaction.atomic():
        job, created = thumbnail_job_create(dataset)
        if enqueue and created:
            transaction.on_commit(lambda: queue.enqueue(job.pk))
    return job


def thumbnails_refresh(*, user: Any, dataset: Dataset) -> Job:
    """:func:`thumbnails_request` for the owner of ``dataset`` or staff (PermissionDenied)."""
    if not can_change(user, dataset):
        raise PermissionDenied("Only the owner of a dataset (or staff) can compute its thumbnails.")
    return thumbnails_request(dataset=dataset)


def thumbnails_on_register(*, dataset: Dataset, **_: Any) -> None:
    """Receiver of ``dataset_registered``."""
    if settings.THUMBNAILS_ON_REGISTER:
        thumbnails_request(dataset=dataset)


def datasets_without_thumbnails(ids: Iterable[int] = ()) -> QuerySet[Dataset]:
    """Datasets (of ``ids``, or all) lacking a thumbnail kind, ready, with no job pending."""
    found = Dataset.objects.filter(status=Dataset.Status.READY)
    if ids:
        found = found.filter(pk__in=list(ids))
    complete = Dataset.objects.filter(thumbnails__kind="adf").filter(thumbnails__kind="mean")
    pending = Job.objects.filter(kind=Job.Kind.THUMBNAIL, status__in=UNFINISHED)
    return (
        found.exclude(pk__in=complete.values("pk"))
        .exclude(pk__in=pending.values("dataset_id"))
        .order_by("pk")
    )
