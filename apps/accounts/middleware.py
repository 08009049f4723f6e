"""``Authorization: Token <key>`` for scripts and notebooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from apps.accounts.models import ApiToken, hash_token


def user_for_token(key: str) -> Any | None:
    """The active user owning API token ``key``, or None."""
    if not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now())
    return token.user


class TokenAuthenticationMiddleware:
    """Authenticates API requests that carry a token; session logins are left alone.

    Token requests are exempt from CSRF checks: a token is not sent automatically by browsers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "token":
                return JsonResponse(
                    {"error": "Authorization must be 'Token <key>'.", "fields": {}}, status=401
                )
            user = user_for_token(key.strip())
            if user is None:
                return JsonResponse(
                    {"error": "The API token is invalid or was revoked.", "fields": {}}, status=401
                )
            request.user = user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)
