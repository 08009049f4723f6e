"""URL routes: pages and the JSON API of each app, and the admin."""

from django.contrib import admin
from django.urls import include, path

from apps.datasets import analysis_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("apps.accounts.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.jobs.urls")),
    path("", include("apps.results.urls")),
    path("datasets/<int:pk>/analyze/", analysis_views.dataset_analyze, name="dataset_analyze"),
    path(
        "api/datasets/<int:pk>/frame/", analysis_views.api_dataset_frame, name="api_dataset_frame"
    ),
]
