"""The live sessions' JSON API (at the root by libertem_site.urls)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.urls import path, register_converter

from apps.acquisition import views


class AnalysisIndex:
    """``<analysis_index:index>``: an analysis's place in a session (0 to 99; a session runs
    at most a handful, and Django's ``int`` would hand any length to the view)."""

    regex = "[0-9]{1,2}"
    schema: ClassVar[dict[str, Any]] = {"type": "integer", "minimum": 0, "maximum": 99}

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(AnalysisIndex, "analysis_index")

urlpatterns = [
    path("api/live/detectors/", views.detector_list, name="api_live_detectors"),
    path("api/live/sessions/", views.session_create, name="api_live_sessions"),
    path("api/live/sessions/<id:job_id>/stop/", views.session_stop, name="api_live_stop"),
    path(
        "api/live/sessions/<id:job_id>/analyses/",
        views.session_analyses,
        name="api_live_analyses",
    ),
    path(
        "api/live/sessions/<id:job_id>/analyses/<analysis_index:index>/",
        views.session_analysis,
        name="api_live_analysis",
    ),
]
