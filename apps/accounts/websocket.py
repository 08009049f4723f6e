"""Websocket authentication: the session cookie, or ``?token=<key>`` for scripts."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async

from apps.accounts.middleware import user_for_token
from apps.accounts.models import hash_token


class TokenQueryMiddleware:
    """Replaces the scope's user when the query string carries a valid token."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
        key = (query.get("token") or [""])[0]
        if key:
            user = await database_sync_to_async(user_for_token)(key)
            if user is not None:
                # The consumer joins the token's group: revoking the token closes the socket.
                scope = {**scope, "user": user, "token_hash": hash_token(key)}
        return await self.inner(scope, receive, send)


def TokenAuthMiddlewareStack(inner: Any) -> Any:  # named like AuthMiddlewareStack
    return AuthMiddlewareStack(TokenQueryMiddleware(inner))
