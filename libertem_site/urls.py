"""URL routes: pages and the JSON API of each app, and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("apps.accounts.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.jobs.urls")),
    path("", include("apps.results.urls")),
]
