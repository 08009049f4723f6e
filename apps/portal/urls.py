from __future__ import annotations

from django.urls import path

from apps.portal import ops, views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", ops.healthz, name="healthz"),
    path("status/", ops.status_page, name="status"),
    path("api/schema/", views.api_schema, name="api_schema"),
]
