from __future__ import annotations

from django.urls import path

from apps.datasets import views

urlpatterns = [
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/register/", views.dataset_register, name="dataset_register"),
    path("datasets/<id:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<id:pk>/share/", views.dataset_share, name="dataset_share"),
    path("datasets/<id:pk>/delete/", views.dataset_delete, name="dataset_delete"),
    path("api/datasets/", views.api_datasets, name="api_datasets"),
    path("api/datasets/<id:pk>/", views.api_dataset, name="api_dataset"),
    path("datasets/<id:pk>/ingest/", views.dataset_ingest_page, name="dataset_ingest"),
    path("api/datasets/<id:pk>/ingest/", views.api_dataset_ingest, name="api_dataset_ingest"),
    path("api/browse/", views.api_browse, name="api_browse"),
]
