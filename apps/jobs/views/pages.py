"""Server-rendered pages: the job list (filtered, paged, drags folded), one job with live
progress, and the job rows the home page shows too."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import ParameterError
from apps.datasets.access import can_change
from apps.jobs import selectors, services
from apps.jobs.access import get_job
from apps.jobs.forms import JobFilterForm
from apps.jobs.limits import QueueFull
from apps.jobs.models import Job
from apps.jobs.quotas import QuotaExceeded
from apps.jobs.serializers import job_json, thumbnail_url
from apps.jobs.summary import params_summary

JOBS_PER_PAGE = 50


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    filters = JobFilterForm(request.GET, user=request.user)
    page = Paginator(filters.jobs(), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **job_rows(request, page.object_list, fold=filters.folds),
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
    }
    return render(request, "jobs/job_list.html", context)


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_job(request.user, job_id)
    context = {
        "job": job,
        "data": job_json(job),
        "can_cancel": can_change(request.user, job),
        "record_json": json.dumps(job.provenance, indent=1),
    }
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
    except (ParameterError, QueueFull, QuotaExceeded) as exc:
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


def job_rows(request: HttpRequest, jobs: Iterable[Job], *, fold: bool = True) -> dict[str, Any]:
    """The rows of a job table, and whether it needs an owner column (others' jobs in it).

    With ``fold``, each row carries the jobs it superseded (the steps of a drag on the analysis
    page) that the viewer may see, for a "+N superseded" line that opens to list them.
    """
    jobs = list(jobs)
    folded = selectors.superseded_jobs(user=request.user, jobs=jobs) if fold else {}
    rows = [
        {
            "job": job,
            "seconds": selectors.job_seconds(job),
            "throughput": selectors.job_throughput(job),
            "can_cancel": can_change(request.user, job) and not job.is_terminal,
            "summary": params_summary(job),
            "thumbnail": thumbnail_url(job),
            "folded": [(old, params_summary(old)) for old in folded.get(job.pk, [])],
        }
        for job in jobs
    ]
    show_owner = any(row["job"].owner_id != request.user.pk for row in rows)
    return {"jobs": rows, "show_owner": show_owner}
