"""Operations: the public health check and the staff status page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.portal import status
from apps.portal.health import health_report


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when every service answers, else 503; open to all, so it names no address."""
    checks = health_report()
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)


@never_cache
@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404("No such page.")
    context = {
        "checks": health_report(),
        "workers": status.dask_workers(),
        "queues": status.queue_lengths(),
        "counts": status.job_counts(),
        "running": status.running_jobs(),
        "plugins": status.analysis_plugins(),
    }
    return render(request, "portal/status.html", context)
