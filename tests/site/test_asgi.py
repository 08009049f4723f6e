"""HTTP through the portal's ASGI application (what Daphne serves): the middleware chain runs
synchronously, in one hop to the request's thread, and still does all its work."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async

from apps.accounts.services import token_create
from libertem_site.asgi import application, django_asgi_app

pytestmark = pytest.mark.django_db(transaction=True)


async def http(path: str, *, method: str = "GET", headers: list | None = None) -> dict[str, Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(timeout=10)
    body = b""
    while True:
        part = await app.receive_output(timeout=10)
        body += part.get("body", b"")
        if not part.get("more_body"):
            break
    await app.wait(timeout=10)
    return {"status": start["status"], "headers": dict(start["headers"]), "body": body}


def test_the_middleware_chain_is_built_for_synchronous_calls() -> None:
    assert not asyncio.iscoroutinefunction(django_asgi_app._middleware_chain)


async def test_a_request_crosses_to_a_thread_three_times(users, monkeypatch) -> None:
    # request_started's receivers, the middleware chain with the view, and closing the
    # response; Django's own handler crossed nine times for this request (each async-capable
    # middleware's process_request and process_response, and back for the sync-only one).
    import asgiref.sync

    hops: list[Any] = []
    real = asgiref.sync.SyncToAsync.__call__

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(self.func)
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync.SyncToAsync, "__call__", counted)
    response = await http("/api/analyses/")
    assert response["status"] == 401
    assert len(hops) == 3, hops


async def test_a_token_request_passes_the_whole_chain_on_one_thread(users, monkeypatch) -> None:
    from apps.accounts import middleware
    from apps.jobs.views import api

    threads: list[str] = []
    seen_by_token = middleware.user_for_token

    def token(key: str) -> Any:
        threads.append(threading.current_thread().name)
        return seen_by_token(key)

    real_view = api.describe_analyses

    def described() -> Any:
        threads.append(threading.current_thread().name)
        return real_view()

    monkeypatch.setattr(middleware, "user_for_token", token)
    monkeypatch.setattr(api, "describe_analyses", described)
    _, key = await database_sync_to_async(token_create)(user=users.owner, name="asgi")
    response = await http("/api/analyses/", headers=[(b"authorization", f"Token {key}".encode())])
    assert response["status"] == 200
    assert "virtual" in {a["name"] for a in json.loads(response["body"])["analyses"]}
    # the outer and inner middleware still ran
    assert response["headers"][b"X-Frame-Options"] == b"DENY"
    assert b"X-Content-Type-Options" in response["headers"]
    assert len(threads) == 2 and threads[0] == threads[1] != "MainThread"


async def test_a_bad_token_is_refused_through_the_asgi_app(users) -> None:
    response = await http("/api/analyses/", headers=[(b"authorization", b"Token nope")])
    assert response["status"] == 401
    assert "invalid" in json.loads(response["body"])["error"]


async def test_an_anonymous_page_request_is_sent_to_the_login(users) -> None:
    response = await http("/datasets/")
    assert response["status"] == 302
    assert response["headers"][b"Location"].startswith(b"/login/")
