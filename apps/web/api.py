"""Helpers shared by the JSON API views: authentication, JSON bodies, ids, uniform errors.

Every error is ``{"error": "<sentence>", "fields": {name: sentence}}`` with a 4xx status.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from apps.core.errors import CoreError, ParameterError
from apps.web.apidoc import ApiSpec, Operation
from apps.web.ids import ID_MAX, object_id

#: Deepest nesting of arrays and objects a JSON body may have. The deepest the API needs is 4
#: (a ROI mask: body, roi, rows, values); Python's parser gives up near 1000 with a
#: RecursionError, and every later walk over the data would risk the same.
MAX_JSON_DEPTH = 16
#: What an anonymous API call is told (401).
ANONYMOUS_MESSAGE = "Log in or send 'Authorization: Token <key>'."
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Strings (with the colon after a key) and the brackets that nest.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"\s*:?|[\[\]{}]')


class ApiError(Exception):
    def __init__(self, message: str, *, status: int = 400, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields = fields or {}


def error_response(
    message: str, *, status: int = 400, fields: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse({"error": message, "fields": fields or {}}, status=status)


def too_large_message() -> str:
    return (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE); send less, or upload large arrays as files "
        "(masks: POST /api/masks/)."
    )


def too_large_response() -> JsonResponse:
    return error_response(too_large_message(), status=413)


def json_body(request: HttpRequest) -> JsonBody:
    """The request's JSON object, or ApiError (413 for a body over the size limit)."""
    try:
        body = request.body or b"{}"
    except RequestDataTooBig:
        raise ApiError(too_large_message(), status=413) from None
    try:
        data = json_parse(body)
    except JsonNestingError as exc:
        raise ApiError(str(exc), fields={exc.field: exc.sentence} if exc.field else {}) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"The request body is not valid JSON ({exc}).") from None
    except ValueError as exc:  # NaN or an infinity
        raise ApiError(str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object.")
    return JsonBody(data)


class JsonBody(dict[str, Any]):
    """A request's JSON object whose fields, as a view reads them, refuse text no database
    column can hold (ApiError naming the field). Fields no view reads are ignored, as ever."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if not _storable(value):
            raise _unstorable_error(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


#: Text no database column can hold (PostgreSQL refuses NUL; UTF-8 has no lone surrogates).
UNSTORABLE = "holds a NUL character (\\u0000) or an unpaired surrogate, which text may not contain."


def _storable(value: Any) -> bool:
    """False if ``value`` (parsed JSON, at most MAX_JSON_DEPTH deep) holds unstorable text."""
    if isinstance(value, str):
        return "\x00" not in value and (value.isascii() or _encodes(value))
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_error(field: str) -> ApiError:
    name = field if _storable(field) else field.encode("unicode_escape").decode("ascii")
    return ApiError(f"The field {name[:40]!r} {UNSTORABLE}", fields={name[:40]: UNSTORABLE})


def check_query(request: HttpRequest) -> None:
    """ApiError naming the first query-string or form field that holds unstorable text."""
    for params in (request.GET, request.POST):
        for key, values in params.lists():
            if not all(_storable(v) for v in (key, *values)):
                raise _unstorable_error(key)


class JsonNestingError(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH; ``field``: the top-level key holding it."""

    def __init__(self, field: str | None) -> None:
        self.field = field
        self.sentence = f"is nested more than {MAX_JSON_DEPTH} levels deep."
        where = f"The field {field!r}" if field else "The JSON"
        super().__init__(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep.")


def json_parse(text: bytes | str) -> Any:
    """Parse JSON text; ValueError for invalid JSON, NaN or infinities, JsonNestingError for
    nesting deeper than MAX_JSON_DEPTH (found before parsing, so the parser never recurses)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    check_json_depth(text)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # unreachable after check_json_depth, kept as the last guard
        raise JsonNestingError(None) from None


def check_json_depth(text: str) -> None:
    """JsonNestingError if JSON ``text`` nests arrays and objects deeper than MAX_JSON_DEPTH;
    for every JSON parsed from users (API bodies, forms, command options), before parsing."""
    # Strings go first (they may hold brackets); then the running sum of +1 per opening and -1
    # per closing bracket is the depth. It all runs in C: a 1 MiB body takes milliseconds.
    codes = np.frombuffer(_JSON_STRING.sub("", text).encode(), dtype=np.uint8)
    opening = (codes == ord("[")) | (codes == ord("{"))
    closing = (codes == ord("]")) | (codes == ord("}"))
    depth = np.cumsum(opening.astype(np.int32) - closing)
    if depth.size and int(depth.max()) > MAX_JSON_DEPTH:
        raise JsonNestingError(_deep_key(text))


def _deep_key(text: str) -> str | None:
    """The key of the outermost object whose value nests too deep (slow; only for errors)."""
    depth = 0
    key = None
    for match in _JSON_TOKEN.finditer(text):
        lexeme = match.group()
        if lexeme in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return key
        elif lexeme in ("]", "}"):
            depth -= 1
        elif depth == 1 and lexeme.endswith(":"):
            key = lexeme.rstrip(": \t\r\n")[1:-1][:100]
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in the request; send finite numbers.")


def api_view(
    *,
    get: Operation | None = None,
    post: Operation | None = None,
    put: Operation | None = None,
    delete: Operation | None = None,
    public: bool = False,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Wraps an API view: the methods it declares (one :class:`Operation` each, which the
    OpenAPI document is generated from), login (session or token; not when ``public``), errors
    as JSON."""
    declared = {"GET": get, "POST": post, "PUT": put, "DELETE": delete}
    spec = ApiSpec({m: op for m, op in declared.items() if op is not None}, public=public)
    # HEAD is GET without the body (the server drops it); views branch on their write methods.
    allowed = (*spec.operations, "HEAD") if get else tuple(spec.operations)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response = error_response(
                    f"Method {request.method} is not allowed here; use {', '.join(allowed)}.",
                    status=405,
                )
                response["Allow"] = ", ".join(allowed)
                return response
            if not public and not request.user.is_authenticated:
                return error_response(ANONYMOUS_MESSAGE, status=401)
            try:
                check_query(request)
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.message, status=exc.status, fields=exc.fields)
            except ParameterError as exc:
                return error_response(str(exc), fields={exc.field: exc.message})
            except CoreError as exc:
                return error_response(str(exc))
            except ValidationError as exc:
                fields = {k: " ".join(v) for k, v in getattr(exc, "message_dict", {}).items()}
                return error_response(" ".join(exc.messages), fields=fields)
            except Http404 as exc:
                return error_response(str(exc) or "Not found.", status=404)
            except PermissionDenied as exc:
                # Only for objects the user may see but not change: others are 404 already.
                return error_response(str(exc) or "You may not change this.", status=403)

        wrapper.api = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def required_id(value: Any, field: str) -> int:
    """``value`` (from a body or query string) as a row id, or ApiError naming ``field``."""
    pk = object_id(value)
    if pk is None:
        raise ApiError(
            f"The field {field!r} must be an id (a whole number from 1 to {ID_MAX}), "
            f"got {value!r:.40}.",
            fields={field: f"must be an id (a whole number from 1 to {ID_MAX})."},
        )
    return pk
