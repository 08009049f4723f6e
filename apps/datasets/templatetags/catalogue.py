"""Template helpers of the catalogue pages."""

from __future__ import annotations

from django import template

from apps.datasets.models import Dataset
from apps.datasets.serializers import thumbnail_urls as dataset_thumbnail_urls

register = template.Library()


@register.simple_tag
def thumbnail_urls(dataset: Dataset) -> dict[str, str | None]:
    """The URL of each thumbnail of ``dataset`` (None: none yet)."""
    return dataset_thumbnail_urls(dataset)
