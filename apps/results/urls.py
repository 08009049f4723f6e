"""Result downloads (included at the root by libertem_site.urls)."""

from __future__ import annotations

from django.urls import re_path

from apps.results.views import api

FORMATS = r"(?P<fmt>npy|h5|tiff|png)"
NAME = r"(?P<name>[A-Za-z0-9_\-]+)"

urlpatterns = [
    re_path(
        rf"^api/jobs/(?P<job_id>[0-9]+)/results/{NAME}\.{FORMATS}$",
        api.result_download,
        name="result_download",
    ),
    re_path(
        rf"^api/jobs/(?P<job_id>[0-9]+)/partial/{NAME}\.(?P<fmt>npy|png)$",
        api.partial_download,
        name="partial_download",
    ),
]
