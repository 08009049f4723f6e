"""Pages and API endpoints for API tokens, one-time login links and CSRF failures."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.http import require_POST, require_safe

from apps.accounts import selectors, services
from apps.accounts.api import ANONYMOUS_MESSAGE, api_view, error_response, json_body
from apps.accounts.forms import TokenForm
from apps.accounts.openapi import openapi_schema

NEW_KEY_SESSION = "new_token_key"


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, key = services.token_create(user=request.user, name=form.cleaned_data["name"])
        # Post/redirect/get: the key is shown by the next page view, and only by that one.
        request.session[NEW_KEY_SESSION] = {"id": token.pk, "key": key}
        return redirect("token_list")
    new = request.session.pop(NEW_KEY_SESSION, None)
    context = {
        "form": form,
        "tokens": selectors.token_list(user=request.user),
        "new_key": new["key"] if new else None,
        "new_id": new["id"] if new else None,
    }
    return render(request, "accounts/token_list.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.token_get(user=request.user, pk=pk)
    services.token_revoke(user=request.user, token=token)
    messages.success(
        request, f"The token {token.name!r} was revoked; scripts using it stop working."
    )
    return redirect("token_list")


@require_safe
def login_link(request: HttpRequest, key: str) -> HttpResponse:
    user = services.login_link_use(key=key)
    if user is None:
        return render(request, "accounts/login_link_invalid.html", status=404)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("home")


@api_view(("GET", "POST"))
def api_tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data = json_body(request)
        token, key = services.token_create(user=request.user, name=data.get("name"))
        return JsonResponse({**selectors.token_json(token), "key": key}, status=201)
    tokens = [selectors.token_json(t) for t in selectors.token_list(user=request.user)]
    return JsonResponse({"tokens": tokens})


@api_view(("DELETE",))
def api_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.token_get(user=request.user, pk=pk)
    services.token_revoke(user=request.user, token=token)
    return HttpResponse(status=204)


@api_view(("GET",), public=True)
def api_schema(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_schema())


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: API clients get the JSON error format, pages Django's.

    An anonymous API write is a missing login, not a missing CSRF token (which a script cannot
    have): 401, like every other anonymous API call.
    """
    if request.path.startswith("/api/"):
        if not request.user.is_authenticated:
            return error_response(ANONYMOUS_MESSAGE, status=401)
        return error_response(
            "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value, "
            "or authenticate with 'Authorization: Token <key>'.",
            status=403,
        )
    return django_csrf_failure(request, reason=reason)
