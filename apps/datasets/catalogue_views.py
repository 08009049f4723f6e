"""The catalogue: the searchable list of datasets, notes and tags, thumbnails.

Every view starts from what the user may see (``get_dataset``, ``dataset_search``); a dataset
the user may not see is 404, also for its thumbnails.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.io import FORMATS
from apps.datasets import services
from apps.datasets.access import get_dataset
from apps.datasets.models import Thumbnail
from apps.datasets.notes import (
    ANNOTATIONS_SCHEMA,
    NOTES_SCHEMA,
    TAGS_SCHEMA,
    parse_annotation_lines,
)
from apps.datasets.search import (
    ANNOTATION_PATTERN,
    DATE_PATTERN,
    PAGE_MAX,
    PAGE_SIZE,
    PAGE_SIZE_MAX,
    SHAPE_PATTERN,
    TEXT_MAX,
    DatasetQuery,
    dataset_search,
    page_neighbours,
    query_from,
    search_page,
)
from apps.datasets.serializers import DATASET, dataset_json
from apps.web.api import api_view, json_body
from apps.web.apidoc import STRING, Operation, Query, Reply, array, nullable, obj

#: The catalogue's Origin filter: what a dataset's data came from, as the page says it.
ORIGINS = (("file", "registered file"), ("live", "live session"))

#: Query parameters a page link keeps when it moves to another page.
SEARCH_PARAMS = (
    "q",
    "tag",
    "annotation",
    "format",
    "origin",
    "nav_shape",
    "sig_shape",
    "owner",
    "group",
    "created_after",
    "created_before",
    "page_size",
)


@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    try:
        query = query_from(request.GET)
        page = search_page(
            dataset_search(user=request.user, query=query),
            page=request.GET.get("page"),
            page_size=request.GET.get("page_size"),
        )
        error = ""
    except ValidationError as exc:
        query, page, error = DatasetQuery(), None, " ".join(exc.messages)
    context = {
        "page": page,
        "datasets": page.object_list if page else [],
        "query": query,
        "error": error,
        "params": request.GET,
        "formats": list(FORMATS),
        "origins": ORIGINS,
        "keep": _kept_params(request.GET),
        "neighbours": page_neighbours(page) if page else (None, None),
    }
    return render(request, "datasets/dataset_list.html", context, status=400 if error else 200)


def _kept_params(params: Any) -> str:
    """The search's query string without the page number, for the page links."""
    kept = params.copy()
    for key in list(kept):
        if key not in SEARCH_PARAMS:
            del kept[key]
    return kept.urlencode()


DATE = {"anyOf": [{"const": ""}, {"type": "string", "format": "date", "pattern": DATE_PATTERN}]}

SEARCH_QUERY = (
    Query(
        "q",
        STRING | {"maxLength": TEXT_MAX},
        "Words in the name, notes, tags or annotations (each word, any case; "
        "on PostgreSQL a full-text search where each word is a prefix).",
    ),
    Query("tag", STRING, "Only datasets with this tag (any case); repeat for several."),
    Query(
        "annotation",
        {"type": "string", "pattern": ANNOTATION_PATTERN},
        "`key` (has it) or `key:value` (a value containing this, any "
        "case), over annotations and detected metadata; repeat for several.",
    ),
    Query("format", {"type": "string", "enum": ["", *FORMATS]}, "Only this format."),
    Query(
        "origin",
        {"type": "string", "enum": ["", "file", "live"]},
        "Only datasets registered from files (file) or recorded by live sessions (live).",
    ),
    Query(
        "nav_shape", {"type": "string", "pattern": SHAPE_PATTERN}, "Only this scan shape (`64x64`)."
    ),
    Query("sig_shape", {"type": "string", "pattern": SHAPE_PATTERN}, "Only this detector shape."),
    Query("owner", STRING, "Only datasets of this user (username)."),
    Query("group", STRING, "Only datasets shared with this group."),
    Query("created_after", DATE, "Registered on or after this day (`2026-12-31`)."),
    Query("created_before", DATE, "Registered on or before this day."),
    Query("page", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX}, "Page (from 1)."),
    Query(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX},
        f"Datasets per page (default {PAGE_SIZE}).",
    ),
)

SEARCH_RESULT = obj(
    "DatasetPage",
    datasets=array(DATASET),
    count={"type": "integer", "description": "Datasets matching, on all pages."},
    page={"type": "integer"},
    pages={"type": "integer"},
    page_size={"type": "integer"},
    next=nullable({"type": "string"}) | {"description": "The next page's URL (null: last)."},
    previous=nullable({"type": "string"}) | {"description": "The previous page's URL."},
)


def search_json(request: HttpRequest) -> dict[str, Any]:
    """One page of the datasets ``request``'s user may see that match its query string."""
    found = dataset_search(user=request.user, query=query_from(request.GET))
    page = search_page(found, page=request.GET.get("page"), page_size=request.GET.get("page_size"))
    base = f"{request.path}?{_kept_params(request.GET)}"
    base += "&" if base[-1] != "?" else ""
    before, after = page_neighbours(page)
    return {
        "datasets": [dataset_json(d) for d in page.object_list],
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "page_size": page.paginator.per_page,
        "next": f"{base}page={after}" if after else None,
        "previous": f"{base}page={before}" if before else None,
    }


NOTES_BODY = obj(
    "NotesChange",
    notes=NOTES_SCHEMA | {"description": "Replaces the notes (null: none)."},
    tags=TAGS_SCHEMA | {"description": "Replaces the tags (null: none)."},
    annotations=ANNOTATIONS_SCHEMA
    | {"description": "Replaces your annotations; an empty or null value drops a key."},
)


@api_view(
    post=Operation(
        "Replace a dataset's notes, tags or annotations (those given)",
        body=NOTES_BODY,
        replies={200: Reply("The dataset with its new notes.", DATASET)},
        errors={
            400: "A tag or key that is not a name, a value too long, notes that are not text.",
            403: "You may see the dataset but are not its owner (or staff).",
        },
    ),
)
def api_dataset_notes(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    data = json_body(request)
    changes = {f: data[f] for f in ("notes", "tags", "annotations") if f in data}
    dataset = services.dataset_annotate(user=request.user, dataset=dataset, **changes)
    return JsonResponse(dataset_json(get_dataset(request.user, dataset.pk)))


@login_required
@require_POST
def dataset_notes(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    try:
        services.dataset_annotate(
            user=request.user,
            dataset=dataset,
            notes=request.POST.get("notes", ""),
            tags=request.POST.get("tags", "").split(","),
            annotations=parse_annotation_lines(request.POST.get("annotations", "")),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Saved the notes of {dataset.name}.")
    return redirect("dataset_detail", pk=dataset.pk)


@login_required
@require_GET
def dataset_thumbnail(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    dataset = get_dataset(request.user, pk)
    thumbnail = Thumbnail.objects.filter(dataset=dataset, kind=kind).first()
    if thumbnail is None:
        raise Http404(f"No {kind} thumbnail of this dataset yet.")
    response = HttpResponse(bytes(thumbnail.png), content_type="image/png")
    # Private: only who may see the dataset; the URL changes with the image (?v=).
    response["Cache-Control"] = "private, max-age=86400"
    return response
