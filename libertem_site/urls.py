"""URL routes: pages and the JSON API of each app, and the admin.

Ids in routes use the ``id`` converter (apps.accounts.ids, registered by the app): an id
beyond the database's range matches no route. Errors on ``/api/`` paths (no route, a malformed request, a body over the
size limit) answer in the API's JSON error format; pages keep Django's.
"""

from django.contrib import admin
from django.urls import include, path

from apps.datasets import analysis_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("apps.accounts.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.jobs.urls")),
    path("", include("apps.results.urls")),
    path("datasets/<id:pk>/analyze/", analysis_views.dataset_analyze, name="dataset_analyze"),
    path("api/datasets/<id:pk>/frame/", analysis_views.api_dataset_frame, name="api_dataset_frame"),
]

handler400 = "apps.accounts.errors.bad_request"
handler403 = "apps.accounts.errors.permission_denied"
handler404 = "apps.accounts.errors.page_not_found"
handler500 = "apps.accounts.errors.server_error"
