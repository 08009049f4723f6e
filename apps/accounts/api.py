"""Helpers shared by the JSON API views: authentication, JSON bodies, uniform errors.

Every error is ``{"error": "<sentence>", "fields": {name: sentence}}`` with a 4xx status.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from apps.core.errors import CoreError, ParameterError


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


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or ApiError."""
    try:
        data = json.loads(request.body or b"{}", parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"The request body is not valid JSON ({exc}).") from None
    except ValueError as exc:
        raise ApiError(str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object.")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in the request; send finite numbers.")


def api_view(
    methods: tuple[str, ...],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Wraps an API view: allowed methods, login (session or token), errors as JSON."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    f"Method {request.method} is not allowed here; use {', '.join(methods)}.",
                    status=405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return error_response("Log in or send 'Authorization: Token <key>'.", status=401)
            try:
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

        return wrapper

    return decorate
