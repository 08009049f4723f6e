"""``Authorization: Token <key>`` for scripts and notebooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from apps.accounts.models import ApiToken, hash_token

#: ``last_used`` is written at most this often: a write on every request would contend with the
#: job driver for SQLite's single write lock (a script polls a job, a browser opens a websocket).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def user_for_token(key: str) -> Any | None:
    """The active user owning API token ``key``, or None."""
    if not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token.user


class TokenAuthenticationMiddleware:
    """Authenticates requests that carry ``Authorization: Token <key>``; sessions are left alone.

    Other schemes (a proxy's ``Basic``, an SSO proxy's ``Bearer``) are not ours: the request is
    handled as if the header were absent, so a portal behind such a proxy keeps working. Only a
    ``Token`` that is malformed, unknown or revoked is answered with 401. Token requests are
    exempt from CSRF checks: a token is not sent automatically by browsers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "token":
            user = user_for_token(key.strip())
            if user is None:
                return JsonResponse(
                    {"error": "The API token is invalid or was revoked.", "fields": {}}, status=401
                )
            request.user = user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)
