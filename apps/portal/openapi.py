"""The OpenAPI 3.1 document of the JSON API, generated on each request of ``/api/schema/``.

Paths and path parameters come from the URL configuration (every route under ``api/``, its
converters saying what a parameter may be); methods, summaries, query parameters, bodies,
replies and error statuses from the :class:`~apps.web.apidoc.Operation` each view declares to
``api_view``; the enums inside those schemas from their sources in code (the format registry,
the export formats, the job and dataset statuses, the analyses). Nothing here names an endpoint:
a route added without a declaration stops the document (and its test) instead of going unlisted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from apps.web.apidoc import ERROR_MEANINGS, JSON, NAMED, ApiSpec, Operation, Query, Reply, obj

API_PREFIX = "api/"
_PARAMETER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")

ERROR = obj(
    "Error",
    required=("error", "fields"),
    error={"type": "string", "description": "A sentence for the user."},
    fields={
        "type": "object",
        "description": "A sentence per offending field.",
        "additionalProperties": {"type": "string"},
    },
)


@dataclass(frozen=True)
class Route:
    """One URL pattern under ``api/``: its OpenAPI path, path parameters and view."""

    path: str
    parameters: tuple[dict[str, Any], ...]
    view: Callable[..., Any]
    name: str

    @property
    def spec(self) -> ApiSpec:
        spec = getattr(self.view, "api", None)
        if not isinstance(spec, ApiSpec):
            raise ImproperlyConfigured(
                f"The API route {self.path} ({self.name}) has a view without api_view: its "
                "methods and replies are undeclared."
            )
        return spec


def api_routes() -> list[Route]:
    """Every route of the URL configuration under ``api/``, in URLconf order."""
    return [r for r in _walk(get_resolver().url_patterns, "", ()) if r.path.startswith("/api/")]


def _walk(patterns: list[Any], prefix: str, params: tuple[dict, ...]) -> Iterator[Route]:
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            _refuse_regex(entry.pattern, prefix)
            continue
        route = prefix + str(entry.pattern._route)
        more = params + _parameters(entry.pattern)
        if isinstance(entry, URLResolver) and API_PREFIX.startswith(route[: len(API_PREFIX)]):
            yield from _walk(entry.url_patterns, route, more)
        elif isinstance(entry, URLPattern) and route.startswith(API_PREFIX):
            path = "/" + _PARAMETER.sub(r"{\1}", route)
            yield Route(path, more, entry.callback, entry.name or path)


def _refuse_regex(pattern: Any, prefix: str) -> None:
    """API routes use path() and converters, which say what each parameter may be; a regex
    route (e.g. the static files of DEBUG) elsewhere is not the API's."""
    if (prefix + str(pattern).lstrip("^")).startswith(API_PREFIX):
        raise ImproperlyConfigured(
            f"The URL pattern {pattern} under {API_PREFIX} is a regex: use path() and converters, "
            "which the OpenAPI document reads."
        )


def _parameters(pattern: RoutePattern) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"name": name, "in": "path", "required": True, "schema": _converter_schema(converter)}
        for name, converter in pattern.converters.items()
    )


def _converter_schema(converter: Any) -> dict[str, Any]:
    schema = getattr(converter, "schema", None)
    return dict(schema) if schema else {"type": "string", "pattern": f"^(?:{converter.regex})$"}


def openapi_schema() -> dict[str, Any]:
    """The document, as JSON-ready dicts."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for route in api_routes():
        spec = route.spec
        item = paths.setdefault(route.path, {})
        for method, operation in spec.operations.items():
            built = _operation(route, method, operation, public=spec.public)
            item[method.lower()] = _hoisted(built, components)
    components["Error"] = _hoisted(ERROR, components, root=True)
    return {
        "openapi": "3.1.0",
        "info": {"title": "LiberTEM Portal API", "version": "1", "description": _description()},
        "servers": [{"url": "/"}],
        "security": [{"token": []}, {"session": []}],
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())), "securitySchemes": SECURITY},
    }


def _operation(route: Route, method: str, op: Operation, *, public: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": f"{route.name}_{method.lower()}",
        "summary": op.summary,
        "tags": [route.path.split("/")[2]],
    }
    if op.description:
        out["description"] = op.description
    parameters = [*route.parameters, *(_query(q) for q in op.query)]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        required = bool(op.body.get("required") or op.body.get("oneOf"))
        out["requestBody"] = {"required": required, "content": {JSON: {"schema": op.body}}}
    if op.form is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": op.form}},
        }
    replies = {str(code): _reply(reply) for code, reply in op.replies.items()}
    errors = _errors(route, method, op, public=public)
    out["responses"] = replies | {str(code): _error(code, text) for code, text in errors.items()}
    if public:
        out["security"] = []
    return out


def _query(q: Query) -> dict[str, Any]:
    return {
        "name": q.name,
        "in": "query",
        "required": q.required,
        "description": q.description,
        "schema": q.schema,
    }


def _errors(route: Route, method: str, op: Operation, *, public: bool) -> dict[int, str]:
    """The error statuses of one operation: those of its kind, then its own."""
    implied: dict[int, str] = {}
    if op.takes_input:
        implied[400] = "Malformed input: not JSON, a value of the wrong type, text with NUL."
    if not public:
        implied[401] = ""
    if method != "GET":
        implied[403] = "A failed CSRF check (session login without the X-CSRFToken header)."
    if route.parameters:
        implied[404] = ""
    if op.body is not None or op.form is not None:
        implied[413] = ""
    errors = implied | dict(op.errors)
    return {code: errors[code] or ERROR_MEANINGS[code] for code in sorted(errors)}


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None:
        out["content"] = {JSON: {"schema": reply.schema}}
    elif reply.files:
        out["content"] = {
            m: {"schema": {"type": "string", "format": "binary"}} for m in reply.files
        }
    return out


def _error(code: int, text: str) -> dict[str, Any]:
    return {"description": text, "content": {JSON: {"schema": {"$ref": _ref("Error")}}}}


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def _hoisted(node: Any, components: dict[str, Any], *, root: bool = False) -> Any:
    """``node`` with every named schema inside replaced by a reference into ``components``."""
    if isinstance(node, list):
        return [_hoisted(v, components) for v in node]
    if not isinstance(node, dict):
        return node
    body = {k: _hoisted(v, components) for k, v in node.items()}
    title = node.get("title")
    if root or not isinstance(title, str) or NAMED.get(title) != node:
        return body
    components[title] = body
    return {"$ref": _ref(title)}


SECURITY = {
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Token <key>`; create keys at /tokens/ or with POST /api/tokens/.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": "A browser login; writes also need the X-CSRFToken header.",
    },
}


def _description() -> str:
    return (
        "JSON over HTTP for the browser and for scripts. Authenticate with the session cookie "
        "(plus the X-CSRFToken header on writes) or with `Authorization: Token <key>`. Errors "
        'are `{"error": sentence, "fields": {field: sentence}}` with a 4xx status; objects you '
        "may not see answer 404. Request bodies are at most "
        f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (mask uploads excepted). Job events "
        "stream on the websocket `/ws/jobs/<id>/` (session cookie or `?token=<key>`). "
        "See docs/api.md."
    )
