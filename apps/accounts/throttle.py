"""The client address that login throttling (django-axes) counts failures against."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address of whoever sent ``request``, seen through ``PROXY_COUNT`` trusted proxies.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``, so the
    user's address is the ``PROXY_COUNT``-th entry from the right; entries further left are
    whatever the client claimed and are not trusted. Without proxies it is ``REMOTE_ADDR``.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if settings.PROXY_COUNT <= 0:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-settings.PROXY_COUNT] if len(hops) >= settings.PROXY_COUNT else remote
