"""Reads from the catalogue; visibility comes from the one access module."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db.models import QuerySet

from apps.accounts.access import visible_datasets
from apps.datasets.models import Dataset


def dataset_list(*, user: Any, q: str = "") -> QuerySet[Dataset]:
    """Datasets ``user`` may see, optionally those whose name contains ``q``."""
    datasets = visible_datasets(user).select_related("owner").prefetch_related("groups")
    if q.strip():
        datasets = datasets.filter(name__icontains=q.strip())
    return datasets


def shareable_groups(*, user: Any) -> list[str]:
    """Names of the groups ``user`` may share a dataset with."""
    groups = Group.objects.all() if user.is_staff else user.groups.all()
    return list(groups.order_by("name").values_list("name", flat=True))
