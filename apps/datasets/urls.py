from __future__ import annotations

from django.urls import path, register_converter

from apps.datasets import catalogue_views, views
from apps.datasets.models import Thumbnail
from apps.web.converters import ChoiceConverter


class ThumbnailKind(ChoiceConverter):
    choices = tuple(Thumbnail.Kind.values)


register_converter(ThumbnailKind, "thumbnail_kind")

urlpatterns = [
    path("datasets/", catalogue_views.dataset_list, name="dataset_list"),
    path("datasets/register/", views.dataset_register, name="dataset_register"),
    path("datasets/<id:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<id:pk>/share/", views.dataset_share, name="dataset_share"),
    path("datasets/<id:pk>/delete/", views.dataset_delete, name="dataset_delete"),
    path("datasets/<id:pk>/calibration/", views.dataset_calibrate, name="dataset_calibrate"),
    path("datasets/<id:pk>/notes/", catalogue_views.dataset_notes, name="dataset_notes"),
    path(
        "datasets/<id:pk>/thumbnails/<thumbnail_kind:kind>.png",
        catalogue_views.dataset_thumbnail,
        name="dataset_thumbnail",
    ),
    path("api/datasets/", views.api_datasets, name="api_datasets"),
    path("api/datasets/<id:pk>/", views.api_dataset, name="api_dataset"),
    path(
        "api/datasets/<id:pk>/calibration/",
        views.api_dataset_calibration,
        name="api_dataset_calibration",
    ),
    path(
        "api/datasets/<id:pk>/notes/", catalogue_views.api_dataset_notes, name="api_dataset_notes"
    ),
    path("api/browse/", views.api_browse, name="api_browse"),
]
