"""Reads from the catalogue; visibility comes from the one access module."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from apps.datasets.models import Dataset
from apps.datasets.paths import in_ingest_root


def shareable_groups(*, user: Any) -> list[str]:
    """Names of the groups ``user`` may share a dataset with."""
    groups = Group.objects.all() if user.is_staff else user.groups.all()
    return list(groups.order_by("name").values_list("name", flat=True))


def is_ingested(dataset: Dataset) -> bool:
    """True once the catalogue points at a sidecar written by ingestion."""
    return in_ingest_root(dataset.path)
