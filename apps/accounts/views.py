"""Pages and API endpoints for API tokens and one-time login links."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.accounts import selectors, services
from apps.accounts.forms import TokenForm
from apps.web.api import api_view, json_body
from apps.web.apidoc import Operation, Reply, array, obj, text

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


@api_view(
    get=Operation(
        "Your API tokens (never their keys)",
        replies={200: Reply("Your tokens.", obj(tokens=array(selectors.TOKEN)))},
    ),
    post=Operation(
        "Create an API token; its key is in this answer only",
        body=obj(required=("name",), name=text(max_length=services.TOKEN_NAME_MAX)),
        replies={
            201: Reply(
                "The token with its key.",
                obj("NewToken", **selectors.TOKEN["properties"], key={"type": "string"}),
            )
        },
    ),
)
def api_tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data = json_body(request)
        token, key = services.token_create(user=request.user, name=data.get("name"))
        return JsonResponse({**selectors.token_json(token), "key": key}, status=201)
    tokens = [selectors.token_json(t) for t in selectors.token_list(user=request.user)]
    return JsonResponse({"tokens": tokens})


@api_view(
    delete=Operation(
        "Revoke one of your API tokens; requests with it are refused from now on",
        replies={204: Reply("Revoked.")},
    )
)
def api_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.token_get(user=request.user, pk=pk)
    services.token_revoke(user=request.user, token=token)
    return HttpResponse(status=204)
