"""Websocket routes (wrapped in origin validation and authentication by libertem_site.asgi).

The last route takes every other path (an unknown one, a job id out of range) and refuses the
handshake like a missing job, instead of the router raising.
"""

from __future__ import annotations

from django.urls import path, re_path

from apps.portal.consumers import JobConsumer, NoRouteConsumer
from apps.portal.follow import FollowConsumer

websocket_urlpatterns = [
    path("ws/jobs/", FollowConsumer.as_asgi(), name="ws_follow"),
    path("ws/jobs/<id:job_id>/", JobConsumer.as_asgi(), name="ws_job"),
    re_path(r"", NoRouteConsumer.as_asgi()),
]
