"""Searching the catalogue: free text, tags, annotations, format, shape, owner, group, date.

Only datasets the user may see are ever searched (``visible_datasets`` is the base of every
query). Free text matches the name, notes, tags and annotations (keys and values, the detected
metadata too), all copied into ``Dataset.search_text`` by :func:`search_refresh` whenever one of
them changes. On PostgreSQL each word is a prefix in a full-text query over ``search_vector``
(the ``simple`` configuration, no stemming: sample names and detector models are not English;
a GIN index, see migration 0006); elsewhere (SQLite) each word must occur in ``search_text``,
any case. Either way the name is also matched as a whole, as before there was search.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet, TextField, Value

from apps.core.io import FORMATS
from apps.datasets.access import visible_datasets
from apps.datasets.models import Dataset, Thumbnail

PAGE_SIZE = 50
PAGE_SIZE_MAX = 200
TEXT_MAX = 200
PAGE_MAX = 10**9
_WORD = re.compile(r"\w+")
#: What the query parameters must look like (the API document states the same patterns).
SHAPE_PATTERN = r"^\s*(\d{1,9}(\s*[x×,]\s*\d{1,9})*)?\s*$"
ANNOTATION_PATTERN = r"^([^\x00\S]*|[^\x00:]*[^\x00:\s][^\x00:]*(:[^\x00]*)?)$"
DATE_PATTERN = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"


@dataclass(frozen=True)
class DatasetQuery:
    """What to look for; every part given must match (an empty query lists everything)."""

    text: str = ""
    tags: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = field(default=())  # (key, value part or "")
    format: str = ""
    origin: str = ""
    nav_shape: tuple[int, ...] | None = None
    sig_shape: tuple[int, ...] | None = None
    owner: str = ""
    group: str = ""
    created_after: datetime.date | None = None
    created_before: datetime.date | None = None

    @property
    def is_empty(self) -> bool:
        return self == DatasetQuery()


def query_from(params: Any) -> DatasetQuery:
    """A query from request parameters (a QueryDict): ``q``, ``tag`` (repeatable),
    ``annotation`` (``key`` or ``key:value``, repeatable), ``format``, ``origin`` (``file``
    or ``live``: recorded by a live session), ``nav_shape`` and
    ``sig_shape`` (``64x64``), ``owner``, ``group``, ``created_after``, ``created_before``
    (``YYYY-MM-DD``, both days included). ValidationError names the parameter."""
    text = params.get("q", "")
    if len(text) > TEXT_MAX:
        raise ValidationError({"q": f"q: must be at most {TEXT_MAX} characters, got {len(text)}."})
    text = text.strip()
    fmt = params.get("format", "")
    if fmt and fmt not in FORMATS:
        raise ValidationError(
            {"format": f"format: {fmt[:40]!r} is not a format; one of {', '.join(FORMATS)}."}
        )
    origin = params.get("origin", "")
    if origin and origin not in Dataset.Origin.values:
        raise ValidationError(
            {"origin": f"origin: {origin[:40]!r} is not an origin; file or live."}
        )
    return DatasetQuery(
        text=text,
        origin=origin,
        tags=tuple(t.strip() for t in params.getlist("tag") if t.strip()),
        annotations=tuple(_annotation(a) for a in params.getlist("annotation") if a.strip()),
        format=fmt,
        nav_shape=_shape(params.get("nav_shape", ""), "nav_shape"),
        sig_shape=_shape(params.get("sig_shape", ""), "sig_shape"),
        owner=params.get("owner", "").strip(),
        group=params.get("group", "").strip(),
        created_after=_date(params.get("created_after", ""), "created_after"),
        created_before=_date(params.get("created_before", ""), "created_before"),
    )


def _annotation(text: str) -> tuple[str, str]:
    key, _, value = text.partition(":")
    if not re.match(ANNOTATION_PATTERN, text):
        raise ValidationError(
            {"annotation": f"annotation: {text[:40]!r} needs a key: 'key' or 'key:value'."}
        )
    return key.strip(), value.strip()


def _shape(text: str, name: str) -> tuple[int, ...] | None:
    if not re.match(SHAPE_PATTERN, text):
        raise ValidationError({name: f"{name}: {text[:40]!r} is not a shape; write it as 64x64."})
    return tuple(int(d) for d in re.findall(r"\d+", text)) or None


def _date(text: str, name: str) -> datetime.date | None:
    try:
        if not re.match(DATE_PATTERN, text):
            raise ValueError(text)
        return datetime.date.fromisoformat(text) if text else None
    except ValueError:
        raise ValidationError(
            {name: f"{name}: {text[:40]!r} is not a date; write it as 2026-12-31."}
        ) from None


def dataset_search(*, user: Any, query: DatasetQuery) -> QuerySet[Dataset]:
    """The datasets ``user`` may see that match ``query``, newest first."""
    found = visible_datasets(user)
    if query.text:
        found = found.filter(_text_match(query.text))
    for tag in query.tags:
        found = found.filter(pk__in=Dataset.objects.filter(tags__name__iexact=tag).values("pk"))
    for key, value in query.annotations:
        rows = Q(annotations__key__iexact=key)
        if value:
            rows &= Q(annotations__value__icontains=value)
        found = found.filter(pk__in=Dataset.objects.filter(rows).values("pk"))
    exact = {
        "format": query.format,
        "origin": query.origin,
        "nav_shape": list(query.nav_shape or ()),
        "sig_shape": list(query.sig_shape or ()),
        "owner__username": query.owner,
        "created__date__gte": query.created_after,
        "created__date__lte": query.created_before,
    }
    found = found.filter(**{k: v for k, v in exact.items() if v})
    if query.group:
        found = found.filter(pk__in=Dataset.objects.filter(groups__name=query.group).values("pk"))
    thumbnails = Prefetch("thumbnails", Thumbnail.objects.defer("png"))
    return (
        found.defer("search_text", "search_vector")
        .select_related("owner")
        .prefetch_related("groups", "tags", "annotations", thumbnails)
    )


def _text_match(text: str) -> Q:
    words = _WORD.findall(text)
    by_name = Q(name__icontains=text)
    if not words:
        return by_name
    if connection.vendor == "postgresql":
        prefixes = " & ".join(f"{w}:*" for w in words)
        return by_name | Q(search_vector=SearchQuery(prefixes, config="simple", search_type="raw"))
    every = Q()
    for word in words:
        every &= Q(search_text__icontains=word)
    return by_name | every


def search_page(found: QuerySet[Dataset], *, page: Any, page_size: Any) -> Page:
    """One page of ``found`` (a page after the last is empty); ValidationError naming
    ``page`` or ``page_size``."""
    size = _count(page_size, "page_size", PAGE_SIZE, PAGE_SIZE_MAX)
    number = _count(page, "page", 1, PAGE_MAX)
    paginator = Paginator(found, size)
    if number > paginator.num_pages:
        return Page([], number, paginator)
    return paginator.page(number)


def page_neighbours(page: Page) -> tuple[int | None, int | None]:
    """The numbers of the pages before and after ``page`` (None: there is none); the page
    before one past the end is the last."""
    pages = page.paginator.num_pages
    before = min(page.number - 1, pages) if page.number > 1 else None
    after = page.number + 1 if page.number < pages else None
    return before, after


def _count(value: Any, name: str, default: int, most: int) -> int:
    if value in (None, ""):
        return default
    text = str(value)
    if not text.isascii() or not text.isdigit() or not 1 <= int(text[:12]) <= most:
        raise ValidationError(
            {name: f"{name}: must be a whole number from 1 to {most}, got {text[:20]!r}."}
        )
    return int(text)


def search_document(dataset: Dataset) -> str:
    """What free text finds ``dataset`` by: name, format, notes, tags, annotations."""
    parts = [dataset.name, dataset.format, dataset.notes]
    parts += [t.name for t in dataset.tags.all()]
    parts += [f"{a.key} {a.value}" for a in dataset.annotations.all()]
    return "\n".join(p for p in parts if p)


def search_refresh(dataset: Dataset) -> None:
    """Copy what free text searches into ``dataset``'s search columns (after a change)."""
    text = search_document(dataset)
    update: dict[str, Any] = {"search_text": text}
    if connection.vendor == "postgresql":
        update["search_vector"] = SearchVector(
            Value(text, output_field=TextField()), config="simple"
        )
    Dataset.objects.filter(pk=dataset.pk).update(**update)
