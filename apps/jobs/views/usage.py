"""Quotas: the user's usage (a page and the API) and, for staff, everyone's."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.jobs.quotas import quota_overview, user_quotas
from apps.web.api import api_view
from apps.web.apidoc import Operation, Reply, array, nullable, obj

QUOTA_USE = obj(
    "QuotaUse",
    scope={"type": "string", "enum": ["user", "group"]},
    holder={"type": "string", "description": "The user's or the group's name."},
    kind={"type": "string", "enum": ["result_bytes", "compute_seconds"]},
    used={"type": "number", "minimum": 0},
    limit=nullable({"type": "integer", "minimum": 1}) | {"description": "null: no limit."},
    exceeded={"type": "boolean", "description": "New jobs are refused while true."},
)


@login_required
@require_safe
def usage_page(request: HttpRequest) -> HttpResponse:
    context = {"quotas": user_quotas(request.user), "days": settings.QUOTA_COMPUTE_DAYS}
    return render(request, "jobs/usage.html", context)


@require_safe
def usage_overview(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404("No such page.")
    users, groups = quota_overview()
    context = {"users": users, "groups": groups, "days": settings.QUOTA_COMPUTE_DAYS}
    return render(request, "jobs/usage_overview.html", context)


@api_view(
    get=Operation(
        "Your quotas and those of your groups: result-store bytes and compute seconds, used "
        "and limit",
        replies={
            200: Reply(
                "The quotas.",
                obj(quotas=array(QUOTA_USE), compute_days={"type": "integer", "minimum": 1}),
            )
        },
    )
)
def api_usage(request: HttpRequest) -> HttpResponse:
    quotas = [use.as_json() for use in user_quotas(request.user)]
    return JsonResponse({"quotas": quotas, "compute_days": settings.QUOTA_COMPUTE_DAYS})
