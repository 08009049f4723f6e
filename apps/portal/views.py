"""Pages and endpoints of the site as a whole."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static

from apps.datasets.access import visible_datasets
from apps.jobs import selectors
from apps.jobs.views.pages import job_rows
from apps.portal.openapi import openapi_schema
from apps.web.api import api_view
from apps.web.apidoc import Operation, Reply

HOME_ITEMS = 10


@login_required
def home(request: HttpRequest) -> HttpResponse:
    datasets = visible_datasets(request.user).order_by("-created")[:HOME_ITEMS]
    jobs = selectors.job_list(user=request.user, superseded=False)[:HOME_ITEMS]
    return render(request, "home.html", {"datasets": datasets, **job_rows(request, jobs)})


def favicon(request: HttpRequest) -> HttpResponse:
    # Pages name their icon; this is for clients that ask for /favicon.ico regardless.
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


@api_view(
    get=Operation(
        "This document: the OpenAPI 3.1 description of the API",
        replies={200: Reply("The document.", {"type": "object"})},
    ),
    public=True,
)
def api_schema(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_schema())
