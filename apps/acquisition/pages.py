"""The live pages: ``/live/`` (arm a detector, the sessions running now) and ``/live/<id>/``
(one session, for its operator and its viewers).

The pages are server-rendered shells; static/js/livearm.js and static/js/live.js do the rest
against the live API (docs/api.md) and the job websocket. Access is the jobs' rule
(``apps.jobs.access``): a session the user may not see is a 404, and only its owner (or staff)
gets the operator's controls; the API refuses a viewer's writes whatever the page shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.acquisition.detectors import usable_detectors
from apps.core.analyses import describe_analyses
from apps.datasets.access import can_change
from apps.datasets.models import DataFolder
from apps.datasets.paths import user_folders
from apps.jobs.access import get_job, visible_jobs
from apps.jobs.models import Job

LIVE_KIND = "live"
_ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)


def running_sessions(user: Any) -> list[Job]:
    """The live sessions ``user`` may watch that have not ended, newest first."""
    jobs = visible_jobs(user).filter(kind=LIVE_KIND, status__in=_ACTIVE)
    return list(jobs.select_related("owner").order_by("-created"))


def may_use_live(user: Any) -> bool:
    """Whether ``user`` may operate a detector or watch a live session (the top bar's link)."""
    if not user.is_authenticated:
        return False
    if usable_detectors(user).exists():
        return True
    return visible_jobs(user).filter(kind=LIVE_KIND).exists()


def usable_folders(user: Any) -> list[dict[str, Any]]:
    """The declared data folders ``user`` may record into: ``[{id, path}]``."""
    folders = user_folders(user)
    return [
        {"id": f.pk, "path": f.path}
        for f in DataFolder.objects.order_by("path")
        if folders.allows(Path(f.path))
    ]


@login_required
def live_index(request: HttpRequest) -> HttpResponse:
    config = {
        "analyses": describe_analyses(),
        "folders": usable_folders(request.user),
        # the groups the session may be shared with: their members watch it
        "groups": sorted(request.user.groups.values_list("name", flat=True)),
        "urls": {"detectors": "/api/live/detectors/", "sessions": "/api/live/sessions/"},
    }
    context = {"sessions": running_sessions(request.user), "page_config": config}
    return render(request, "live/index.html", context)


@login_required
def live_session(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id, related=("owner",))
    if job.kind != LIVE_KIND:
        raise Http404("No such live session.")
    operator = can_change(request.user, job)
    config = {
        "id": job.pk,
        "owner": job.owner.get_username(),
        "operator": operator,
        "analyses": describe_analyses(),
        "urls": {
            "ws": f"/ws/jobs/{job.pk}/",
            "job": f"/api/jobs/{job.pk}/",
            "session": f"/api/live/sessions/{job.pk}/",
            "job_page": f"/jobs/{job.pk}/",
        },
    }
    context = {"job": job, "operator": operator, "page_config": config}
    return render(request, "live/session.html", context)
