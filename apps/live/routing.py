"""Websocket routes (wrapped in origin validation and authentication by libertem_site.asgi)."""

from __future__ import annotations

from django.urls import path

from apps.live.consumers import JobConsumer

websocket_urlpatterns = [
    path("ws/jobs/<int:job_id>/", JobConsumer.as_asgi(), name="ws_job"),
]
