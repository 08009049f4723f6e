"""Server-rendered pages: home, the job history, one job with live progress."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import can_change, get_job, visible_datasets
from apps.core.errors import ParameterError
from apps.jobs import selectors, services
from apps.jobs.models import Job
from apps.jobs.scheduling import QueueFull
from apps.jobs.serializers import job_json

HOME_ITEMS = 10
HISTORY_ITEMS = 200


@login_required
def home(request: HttpRequest) -> HttpResponse:
    datasets = visible_datasets(request.user).order_by("-created")[:HOME_ITEMS]
    jobs = selectors.job_list(user=request.user)[:HOME_ITEMS]
    return render(request, "home.html", {"datasets": datasets, **_rows(request, jobs)})


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = selectors.job_list(user=request.user)[:HISTORY_ITEMS]
    return render(request, "jobs/job_list.html", _rows(request, jobs))


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    context = {"job": job, "data": job_json(job), "can_cancel": can_change(request.user, job)}
    return render(request, "jobs/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    if can_change(request.user, job):
        try:
            services.job_cancel(user=request.user, job=job)
        except services.JobEnded as exc:
            messages.error(request, str(exc))
    if request.POST.get("next") == "list":
        return redirect("job_list")
    return redirect("job_detail", job.pk)


@login_required
@require_POST
def job_rerun(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    if not can_change(request.user, job):
        return redirect("job_detail", job.pk)
    try:
        new = services.job_rerun(user=request.user, job=job)
    except (ParameterError, QueueFull) as exc:
        messages.error(request, f"The job cannot run again: {exc}")
        return redirect("job_detail", job.pk)
    return redirect("job_detail", new.pk)


@login_required
@require_POST
def job_share(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    shared = request.POST.get("shared") == "1"
    try:
        services.job_share(user=request.user, job=job, shared=shared)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        who = "everyone who may see the dataset" if shared else "you (and staff) only"
        messages.success(request, f"Job #{job.pk} is now shown to {who}.")
    return redirect("job_detail", job.pk)


def _rows(request: HttpRequest, jobs: Iterable[Job]) -> dict[str, Any]:
    """The rows of a job table, and whether it needs an owner column (others' jobs in it)."""
    rows = [
        {
            "job": job,
            "seconds": selectors.job_seconds(job),
            "throughput": selectors.job_throughput(job),
            "can_cancel": can_change(request.user, job) and not job.is_terminal,
        }
        for job in jobs
    ]
    show_owner = any(row["job"].owner_id != request.user.pk for row in rows)
    return {"jobs": rows, "show_owner": show_owner}
