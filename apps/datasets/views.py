"""Catalogue pages (list, register with a file browser, detail) and the dataset JSON API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import can_change, get_dataset
from apps.accounts.api import api_view, json_body
from apps.core.errors import ParameterError
from apps.datasets import selectors, services
from apps.datasets.forms import RegisterForm, ShareForm
from apps.datasets.ingestion import dataset_ingest, is_ingested
from apps.datasets.paths import browse, split_inner
from apps.datasets.serializers import dataset_json
from apps.jobs.scheduling import QueueFull
from apps.jobs.serializers import job_urls
from apps.jobs.views.api import queue_full_as_429

FIELDS = ("name", "path", "format", "params", "groups")


@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    datasets = selectors.dataset_list(user=request.user, q=q)
    return render(request, "datasets/dataset_list.html", {"datasets": datasets, "q": q})


@login_required
def dataset_register(request: HttpRequest) -> HttpResponse:
    groups = selectors.shareable_groups(user=request.user)
    if request.method == "POST":
        form = RegisterForm(request.POST, groups=groups)
        if form.is_valid():
            try:
                dataset = services.dataset_register(
                    owner=request.user,
                    name=form.cleaned_data["name"],
                    path=form.cleaned_data["path"],
                    format=form.cleaned_data["format"] or None,
                    params=form.cleaned_data["params"],
                    groups=form.cleaned_data["groups"],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Registered {dataset.name}.")
                return redirect("dataset_detail", pk=dataset.pk)
        detected = None
    else:
        detected, initial = _detect(request.user, request.GET.get("path", ""))
        form = RegisterForm(initial=initial, groups=groups)
    folder = request.GET.get("dir") or _parent(form["path"].value() or "")
    context = {"form": form, "detected": detected, "listing": _listing(request.user, folder)}
    return render(request, "datasets/dataset_register.html", context)


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    data = dataset_json(dataset)
    context: dict[str, Any] = {
        "dataset": dataset,
        "data": data,
        "partitions": [
            {**p, "frames": p["stop"] - p["start"], "last": p["stop"] - 1}
            for p in data["partitions"]
        ],
        "can_change": can_change(request.user, dataset),
        "can_ingest": bool(settings.DATA_NODES) and not is_ingested(dataset),
        "nodes": list(settings.DATA_NODES),
    }
    if context["can_change"]:
        context["share_form"] = ShareForm(
            initial={"groups": data["groups"]},
            groups=_share_choices(request.user, dataset),
        )
    return render(request, "datasets/dataset_detail.html", context)


@login_required
@require_POST
def dataset_share(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    form = ShareForm(request.POST, groups=_share_choices(request.user, dataset))
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("dataset_detail", pk=dataset.pk)
    try:
        services.dataset_share(
            user=request.user, dataset=dataset, groups=form.cleaned_data["groups"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        shared = ", ".join(form.cleaned_data["groups"]) or "nobody"
        messages.success(request, f"{dataset.name} is now shared with {shared}.")
    return redirect("dataset_detail", pk=dataset.pk)


@login_required
@require_POST
def dataset_delete(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    services.dataset_delete(user=request.user, dataset=dataset)
    messages.success(request, f"Removed {dataset.name} from the catalogue (the files are kept).")
    return redirect("dataset_list")


@api_view(("GET", "POST"))
def api_datasets(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        datasets = selectors.dataset_list(user=request.user, q=request.GET.get("q", ""))
        return JsonResponse({"datasets": [dataset_json(d) for d in datasets]})
    data = json_body(request)
    dataset = services.dataset_register(
        owner=request.user,
        name=data.get("name"),
        path=data.get("path"),
        format=data.get("format"),
        params=data.get("params"),
        groups=data.get("groups") or (),
    )
    return JsonResponse(dataset_json(dataset), status=201)


@api_view(("GET", "DELETE"))
def api_dataset(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    if request.method == "DELETE":
        services.dataset_delete(user=request.user, dataset=dataset)
        return HttpResponse(status=204)
    return JsonResponse(dataset_json(dataset))


@login_required
@require_POST
def dataset_ingest_page(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    try:
        job = dataset_ingest(
            user=request.user,
            dataset=dataset,
            partitions=request.POST.get("partitions") or None,
            nodes=request.POST.getlist("nodes") or None,
            replicas=request.POST.get("replicas") or 1,
        )
    except (ParameterError, QueueFull) as exc:
        messages.error(request, str(exc))
        return redirect("dataset_detail", pk=dataset.pk)
    messages.success(request, f"Ingesting {dataset.name} onto the data nodes.")
    return redirect("job_detail", job.pk)


@api_view(("POST",))
def api_dataset_ingest(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    body = json_body(request)
    with queue_full_as_429():
        job = dataset_ingest(
            user=request.user,
            dataset=dataset,
            partitions=body.get("partitions"),
            nodes=body.get("nodes"),
            replicas=body.get("replicas", 1),
        )
    return JsonResponse({"id": job.pk, "status": job.status, **job_urls(job.pk)}, status=202)


@api_view(("GET",))
def api_browse(request: HttpRequest) -> HttpResponse:
    return JsonResponse(browse(request.user, request.GET.get("path") or None))


def _add_errors(form: RegisterForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in FIELDS else None, errors)


def _share_choices(user: Any, dataset: Any) -> list[str]:
    # Keep groups the dataset is already shared with selectable, so a save does not drop them.
    current = [g.name for g in dataset.groups.all()]
    return sorted(set(selectors.shareable_groups(user=user)) | set(current))


def _detect(user: Any, path: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """What the Core detects at ``path`` (or an error), and the form's initial values."""
    if not path:
        return None, {}
    initial: dict[str, Any] = {"path": path, "name": Path(split_inner(path)[0]).stem}
    try:
        description = services.dataset_detect(user=user, path=path)
    except ValidationError as exc:
        return {"error": " ".join(exc.messages)}, initial
    initial["format"] = description["format"]
    if description["params"]:
        initial["params"] = json.dumps(description["params"])
    return description, initial


def _parent(path: str) -> str:
    return str(Path(split_inner(path)[0]).parent) if path else ""


def _listing(user: Any, folder: str) -> dict[str, Any]:
    try:
        return browse(user, folder or None)
    except ValidationError as exc:
        listing = browse(user, None)
        listing["error"] = " ".join(exc.messages)
        return listing
