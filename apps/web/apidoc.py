"""What an API view declares about itself, for the OpenAPI document (``apps.portal.openapi``).

Each view passes one :class:`Operation` per HTTP method to ``api_view``; the methods it accepts
are the ones it declares, so the document cannot list a method the view refuses or miss one it
serves. Paths and path parameters come from the URL configuration, not from here.

Schemas are JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it). A schema made by :func:`named`
(or ``obj`` with a title) is a named object of the API (``Dataset``, ``Job``, ...): the document
lists it once under ``components`` and refers to it from every operation that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.web.ids import ID_MAX, ID_MIN

JSON = "application/json"
Schema = Mapping[str, Any]

#: A string a request may carry: anything but NUL, which no text column can hold.
STRING: Schema = {"type": "string", "pattern": r"^[^\x00]*$"}
#: A row id, as bodies and query strings carry it.
ID: Schema = {"type": "integer", "minimum": ID_MIN, "maximum": ID_MAX}

#: Statuses the portal may answer with, and what each means in any operation.
ERROR_MEANINGS = {
    400: "Invalid input; `fields` names the offending fields.",
    401: "Not logged in and no valid `Authorization: Token <key>`.",
    403: "Only the owner (or staff) may do this; or a failed CSRF check (session login).",
    404: "No such object, or one you may not see.",
    409: "The object's state does not allow this.",
    413: "The request body is over the size limit (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    429: "You already have MAX_QUEUED_JOBS_PER_USER jobs waiting.",
}


@dataclass(frozen=True)
class Reply:
    """One successful answer: a JSON body (``schema``), a file (``files``: media types), or
    nothing (neither)."""

    description: str
    schema: Schema | None = None
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """One query-string parameter."""

    name: str
    schema: Schema
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One method of one endpoint.

    ``replies``: the successful statuses. ``errors``: the error statuses the view itself answers
    with beyond those every operation of its kind has (401 without login, 400 for a malformed
    body or query string, 404 for a path id of no row, 403 for a failed CSRF check on writes,
    413 for an oversized body: the document adds those). ``body``: the schema of a JSON body;
    ``form``: of a multipart form.
    """

    summary: str
    replies: Mapping[int, Reply]
    errors: Mapping[int, str] = field(default_factory=dict)
    body: Schema | None = None
    form: Schema | None = None
    query: tuple[Query, ...] = ()
    description: str = ""

    @property
    def takes_input(self) -> bool:
        return self.body is not None or self.form is not None or bool(self.query)


@dataclass(frozen=True)
class ApiSpec:
    """What ``api_view`` attaches to a view as ``view.api``."""

    operations: Mapping[str, Operation]
    public: bool = False


#: Every named schema by its title.
NAMED: dict[str, Schema] = {}


def named(title: str, schema: Schema) -> dict:
    """``schema`` as the named object ``title`` of the API."""
    out = {"title": title, **schema}
    if NAMED.setdefault(title, out) != out:
        raise ValueError(f"Two different schemas are both named {title!r}.")
    return out


def obj(title: str | None = None, /, *, required: tuple[str, ...] = (), **properties: Any) -> dict:
    """An object schema with ``properties``; named when ``title`` is given."""
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return named(title, out) if title else out


def array(items: Schema, **extra: Any) -> dict:
    return {"type": "array", "items": items, **extra}


def nullable(schema: Schema) -> dict:
    """``schema`` or JSON null."""
    return {"anyOf": [schema, {"type": "null"}]}


def text(*, max_length: int | None = None, description: str = "") -> dict:
    """A string that is not blank once stripped (Python's whitespace, which includes the
    separators U+001C to U+001F and U+0085) and holds no NUL, as names must be."""
    out: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "pattern": r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$",
    }
    if max_length is not None:
        out["maxLength"] = max_length
    if description:
        out["description"] = description
    return out
