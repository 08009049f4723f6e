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

from apps.core.io import FORMATS
from apps.datasets import selectors, services
from apps.datasets.access import can_change, get_dataset
from apps.datasets.calibration import (
    DETECTOR_CHOICES,
    SCAN_CHOICES,
    describe_beam,
    describe_pixel_size,
)
from apps.datasets.catalogue_views import SEARCH_QUERY, SEARCH_RESULT, search_json
from apps.datasets.forms import CalibrationForm, RegisterForm, ShareForm
from apps.datasets.models import Thumbnail
from apps.datasets.notes import ANNOTATIONS_SCHEMA, NOTES_SCHEMA, TAGS_SCHEMA
from apps.datasets.paths import BROWSE, browse, split_inner
from apps.datasets.selectors import is_ingested
from apps.datasets.serializers import DATASET, dataset_json, dataset_pixel_size
from apps.web.api import api_view, json_body
from apps.web.apidoc import STRING, Operation, Query, Reply, array, named, nullable, obj, text

FIELDS = ("name", "path", "format", "params", "groups")
CALIBRATION_FIELDS = (
    "scan_step",
    "scan_units",
    "detector_step",
    "detector_units",
    "beam_energy",
    "convergence_angle",
)


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
    return render(request, "datasets/dataset_detail.html", _detail_context(request, dataset))


def _detail_context(
    request: HttpRequest, dataset: Any, calibration_form: CalibrationForm | None = None
) -> dict[str, Any]:
    data = dataset_json(dataset)
    context: dict[str, Any] = {
        "dataset": dataset,
        "data": data,
        "partitions": [
            {**p, "frames": p["stop"] - p["start"], "last": p["stop"] - 1}
            for p in data["partitions"]
        ],
        "can_change": can_change(request.user, dataset),
        "can_ingest": bool(settings.DATA_NODES),
        "ingested": is_ingested(dataset),
        "nodes": list(settings.DATA_NODES),
        "pixel_size_text": describe_pixel_size(data["pixel_size"]),
        "beam_text": describe_beam(dataset.beam_energy, dataset.convergence_angle),
        "adf_ring": next(
            (t.detail for t in dataset.thumbnails.all() if t.kind == Thumbnail.Kind.ADF), None
        ),
    }
    if context["can_change"]:
        context["share_form"] = ShareForm(
            initial={"groups": data["groups"]},
            groups=_share_choices(request.user, dataset),
        )
        context["calibration_form"] = calibration_form or CalibrationForm(
            initial=_calibration_initial(dataset)
        )
    return context


@login_required
@require_POST
def dataset_calibrate(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    form = CalibrationForm(request.POST)
    if form.is_valid():
        try:
            services.dataset_calibrate(user=request.user, dataset=dataset, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc, CALIBRATION_FIELDS)
    if form.errors:  # shown next to the fields, with the values as typed
        context = _detail_context(request, dataset, calibration_form=form)
        return render(request, "datasets/dataset_detail.html", context)
    messages.success(request, f"Saved the calibration of {dataset.name}.")
    return redirect("dataset_detail", pk=dataset.pk)


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
    ingested = is_ingested(dataset)
    left = services.dataset_delete(user=request.user, dataset=dataset)
    if ingested:
        messages.success(
            request,
            f"Removed {dataset.name} from the catalogue and its ingested copies from the data "
            "nodes (the source files are kept).",
        )
    else:
        messages.success(
            request, f"Removed {dataset.name} from the catalogue (the files are kept)."
        )
    if left:
        messages.warning(request, f"These copies could not be removed: {'; '.join(left)}.")
    return redirect("dataset_list")


DATASET_REGISTER = obj(
    "DatasetRegister",
    required=("name", "path"),
    name=text(max_length=services.NAME_MAX),
    path=text(
        description="A data file inside the data folders you may use (absolute, or relative to "
        "the first data root); HDF5 may add `:/inner/path`."
    ),
    format=nullable({"type": "string", "enum": list(FORMATS)})
    | {"description": "Detected when left out."},
    params=nullable({"type": "object"})
    | {"description": "Format parameters, e.g. nav_shape, sig_shape, dtype, offset for raw."},
    groups=nullable(array(STRING))
    | {"description": "Groups to share with; you must be a member of each (staff: any)."},
    notes=NOTES_SCHEMA,
    tags=TAGS_SCHEMA,
    annotations=ANNOTATIONS_SCHEMA,
)


@api_view(
    get=Operation(
        "Search the datasets you may see, newest first, a page at a time",
        query=SEARCH_QUERY,
        replies={200: Reply("One page of the datasets that match.", SEARCH_RESULT)},
    ),
    post=Operation(
        "Register a dataset: the format and shape are detected and checked against the file",
        body=DATASET_REGISTER,
        replies={201: Reply("Registered.", DATASET)},
        errors={
            400: "Besides malformed input, the data decides: a path that is not a data file in "
            "a folder you may use, parameters that do not fit the file, a group you are not in.",
        },
    ),
)
def api_datasets(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse(search_json(request))
    data = json_body(request)
    dataset = services.dataset_register(
        owner=request.user,
        name=data.get("name"),
        path=data.get("path"),
        format=data.get("format"),
        params=data.get("params"),
        groups=data.get("groups") or (),
        notes=data.get("notes"),
        tags=data.get("tags"),
        annotations=data.get("annotations"),
    )
    return JsonResponse(dataset_json(dataset), status=201)


@api_view(
    get=Operation(
        "One dataset: shape, dtype, partitions and their placement, status",
        replies={200: Reply("The dataset.", DATASET)},
    ),
    delete=Operation(
        "Remove a dataset, its jobs and results from the catalogue, and an ingested "
        "dataset's copies from the data nodes (the source files are kept)",
        replies={
            204: Reply("Removed, ingested copies included."),
            200: Reply(
                "Removed from the catalogue, but some ingested copies could not be removed "
                "from their nodes (a node down, a file system refusing): each in a sentence "
                "naming the file and the node.",
                obj(not_removed=array({"type": "string"})),
            ),
        },
        errors={403: "You may see the dataset but are not its owner (or staff)."},
    ),
)
def api_dataset(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    if request.method == "DELETE":
        left = services.dataset_delete(user=request.user, dataset=dataset)
        if left:
            return JsonResponse({"not_removed": left})
        return HttpResponse(status=204)
    return JsonResponse(dataset_json(dataset))


def _unit_of_step(kind: str, choices: tuple[str, ...]) -> dict[str, Any]:
    """A ``<kind>_step`` given as a number needs its ``<kind>_units`` (one of ``choices``; the
    spellings files use, such as ``um`` or ``A^-1``, are accepted too)."""
    return {
        "if": {"properties": {f"{kind}_step": {"type": "number"}}, "required": [f"{kind}_step"]},
        "then": {
            "required": [f"{kind}_units"],
            "properties": {f"{kind}_units": {"type": "string", "enum": list(choices)}},
        },
    }


CALIBRATION_BODY = named(
    "CalibrationChange",
    obj(
        scan_step=nullable({"type": "number", "exclusiveMinimum": 0})
        | {"description": "The distance between two scan positions (null: not known)."},
        scan_units=nullable({"type": "string", "examples": list(SCAN_CHOICES)}),
        detector_step=nullable({"type": "number", "exclusiveMinimum": 0})
        | {"description": "The size of one detector pixel (null: not known)."},
        detector_units=nullable({"type": "string", "examples": list(DETECTOR_CHOICES)}),
        beam_energy=nullable({"type": "number", "exclusiveMinimum": 0, "maximum": 10_000})
        | {"description": "The beam energy in keV (null: not known)."},
        convergence_angle=nullable({"type": "number", "exclusiveMinimum": 0, "maximum": 1_000})
        | {"description": "The convergence semi-angle in mrad (null: not known)."},
    )
    | {"allOf": [_unit_of_step("scan", SCAN_CHOICES), _unit_of_step("detector", DETECTOR_CHOICES)]},
)


@api_view(
    post=Operation(
        "Set the size of a scan step and of a detector pixel (square pixels), the beam energy "
        "and the convergence semi-angle; a value left out is not known",
        body=CALIBRATION_BODY,
        replies={200: Reply("The dataset with its new calibration.", DATASET)},
        errors={
            400: "A size or beam value that is not a positive number, or a unit that is not known.",
            403: "You may see the dataset but are not its owner (or staff).",
        },
    ),
)
def api_dataset_calibration(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    data = json_body(request)
    values = {field: data.get(field) for field in CALIBRATION_FIELDS}
    dataset = services.dataset_calibrate(user=request.user, dataset=dataset, **values)
    return JsonResponse(dataset_json(dataset))


@api_view(
    get=Operation(
        "List a folder of the data folders you may use (without a path: the top folders)",
        query=(Query("path", STRING, "The folder (absolute, as entries give it)."),),
        replies={200: Reply("The folder.", BROWSE)},
        errors={400: "Besides malformed input: a path that is not a folder you may use."},
    )
)
def api_browse(request: HttpRequest) -> HttpResponse:
    return JsonResponse(browse(request.user, request.GET.get("path") or None))


def _add_errors(form: Any, exc: ValidationError, fields: tuple[str, ...] = FIELDS) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in fields else None, errors)


def _calibration_initial(dataset: Any) -> dict[str, Any]:
    """The form's values: the current calibration in the units the pages show."""
    sizes = dataset_pixel_size(dataset)
    initial: dict[str, Any] = {}
    for kind in ("scan", "detector"):
        if sizes[kind]:
            initial[f"{kind}_step"] = round(sizes[kind]["x"], 12)
            initial[f"{kind}_units"] = sizes[kind]["units"]
    initial["beam_energy"] = dataset.beam_energy
    initial["convergence_angle"] = dataset.convergence_angle
    return initial


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
