"""Starting an ingestion: validate the request, save an ``ingest`` job, enqueue it.

Ingestion is a job of kind ``ingest``, so it is claimed, heart-beaten, reaped, cancelled and
streamed over ``/ws/jobs/<id>/`` exactly like an analysis; the work itself is in
``apps.jobs.kinds.ingest``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from apps.core.errors import ParameterError
from apps.datasets.access import can_change
from apps.datasets.models import Dataset
from apps.datasets.selectors import is_ingested
from apps.jobs import queue
from apps.jobs.limits import check_queue_room
from apps.jobs.models import Job
from apps.jobs.quotas import COMPUTE_SECONDS, quota_check


def dataset_ingest(
    *,
    user: Any,
    dataset: Dataset,
    partitions: Any = None,
    nodes: Any = None,
    replicas: Any = 1,
    placement: Any = None,
    enqueue: bool = True,
) -> Job:
    """Queue the ingestion of ``dataset`` onto the data nodes; returns the job at once.

    ``placement``: ``round-robin`` (the default) or ``free-space`` (each partition on the
    nodes with the most free space, measured on the nodes when the job starts).
    Raises ParameterError naming ``partitions``, ``nodes``, ``replicas``, ``placement`` or
    ``dataset``;
    QueueFull or QuotaExceeded for the user's limits.
    """
    if not can_change(user, dataset):
        raise PermissionDenied("Only the owner of a dataset (or staff) can ingest it.")
    if not settings.DATA_NODES:
        raise ParameterError(
            "nodes",
            'no data nodes are configured; set DATA_NODES, e.g. {"node-a": "/srv/a"} '
            "(see docs/ingestion.md). Without nodes datasets are read in place.",
        )
    targets = _nodes(nodes)
    params = {
        "partitions": _partitions(partitions, dataset),
        "nodes": targets,
        "replicas": _replicas(replicas, len(targets)),
        "placement": _placement(placement),
    }
    _check_ingestable(dataset)
    # an ingestion stores no results: only its run time counts
    quota_check(user, kinds=(COMPUTE_SECONDS,))
    with transaction.atomic():
        check_queue_room(user.pk)
        job = Job.objects.create(
            owner=user,
            dataset=dataset,
            kind=Job.Kind.INGEST,
            params=params,
            frames_total=dataset.n_frames * params["replicas"],
        )
        if enqueue:
            transaction.on_commit(lambda: queue.enqueue(job.pk))
    return job


def _check_ingestable(dataset: Dataset) -> None:
    # An ingested dataset may be ingested again with another layout (from its source); a
    # dataset that is not ready has nothing whole to copy.
    if is_ingested(dataset) and dataset.status == Dataset.Status.ERROR:
        raise ParameterError(
            "dataset", f"{dataset.name} is in error ({dataset.error}); register it again."
        )
    busy = Job.objects.filter(
        dataset=dataset, kind=Job.Kind.INGEST, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)
    ).first()
    if busy is not None or dataset.status == Dataset.Status.INGESTING:
        where = f" (job {busy.pk})" if busy is not None else ""
        raise ParameterError("dataset", f"{dataset.name} is already being ingested{where}.")


PLACEMENTS = ("round-robin", "free-space")


def _placement(value: Any) -> str:
    if value in (None, ""):
        return PLACEMENTS[0]
    if value not in PLACEMENTS:
        raise ParameterError(
            "placement", f"must be one of {', '.join(PLACEMENTS)}, got {value!r:.40}."
        )
    return str(value)


def _nodes(value: Any) -> list[str]:
    known = [str(n) for n in settings.DATA_NODES]
    if value in (None, "", []):
        return known
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParameterError("nodes", "must be a list of node names.")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise ParameterError(
            "nodes", f"unknown node(s) {', '.join(unknown)}; DATA_NODES has {', '.join(known)}."
        )
    return list(dict.fromkeys(value))


def _partitions(value: Any, dataset: Dataset) -> int | None:
    if value in (None, ""):
        return None
    limit = settings.MAX_PARTITIONS_PER_DATASET
    if dataset.n_frames <= limit:
        return _count(value, "partitions", dataset.n_frames, f"the {dataset.n_frames} frames")
    return _count(value, "partitions", limit, f"{limit} (MAX_PARTITIONS_PER_DATASET)")


def _replicas(value: Any, n_nodes: int) -> int:
    if value in (None, ""):
        return 1
    return _count(value, "replicas", n_nodes, f"the number of nodes ({n_nodes})")


def _count(value: Any, field: str, maximum: int, most: str) -> int:
    """A whole number from 1 to ``maximum`` (an int or a string of digits), or ParameterError."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ParameterError(field, f"must be a positive integer, got {value!r:.40}.")
    text = str(value)
    # int() refuses strings of over 4300 digits (ValueError); no count needs more than 19.
    count = int(text) if len(text) <= 19 else maximum + 1
    if not 1 <= count <= maximum:
        raise ParameterError(field, f"must be between 1 and {most}, got {text:.40}.")
    return count
