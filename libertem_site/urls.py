"""URL routes: pages and the JSON API of each app, and the admin.

Ids in routes use the ``id`` converter (apps.web.ids, registered by apps.portal): an id
beyond the database's range matches no route. Errors on ``/api/`` paths (no route, a malformed request, a body over the
size limit) answer in the API's JSON error format; pages keep Django's.
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("apps.accounts.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.jobs.urls")),
    path("", include("apps.acquisition.page_urls")),
    path("", include("apps.acquisition.urls")),
    path("", include("apps.portal.urls")),
]

handler400 = "apps.web.errors.bad_request"
handler403 = "apps.web.errors.permission_denied"
handler404 = "apps.web.errors.page_not_found"
handler500 = "apps.web.errors.server_error"
