"""The live pages (at the root by libertem_site.urls); the live API has its own routes."""

from __future__ import annotations

from django.urls import path

from apps.acquisition import pages

urlpatterns = [
    path("live/", pages.live_index, name="live_index"),
    path("live/<id:job_id>/", pages.live_session, name="live_session"),
]
