"""Error views (``handler400`` ... ``handler500``, ``CSRF_FAILURE_VIEW``): JSON on ``/api/`` paths,
Django's pages elsewhere.

A script must be able to parse every answer of the API, also when no view ran: no route
matched, the id is out of range, the body was too large or malformed.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from apps.web.api import ANONYMOUS_MESSAGE, error_response, too_large_response


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return too_large_response()
    return error_response(
        "The request is malformed (its headers, query string or form fields could not be read)."
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return error_response(str(exception or "") or "You may not do this.", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return error_response(
        f"No API endpoint or object at {request.path[:200]}; the endpoints are listed in "
        "/api/schema/.",
        status=404,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api(request):
        return defaults.server_error(request)
    return error_response("Internal error; it was logged for the administrators.", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: API clients get the JSON error format, pages Django's.

    An anonymous API write is a missing login, not a missing CSRF token (which a script cannot
    have): 401, like every other anonymous API call.
    """
    if is_api(request):
        if not request.user.is_authenticated:
            return error_response(ANONYMOUS_MESSAGE, status=401)
        return error_response(
            "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value, "
            "or authenticate with 'Authorization: Token <key>'.",
            status=403,
        )
    return django_csrf_failure(request, reason=reason)
