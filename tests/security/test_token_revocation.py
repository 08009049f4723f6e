"""Revoking an API token closes the websockets opened with it (issue 19 point 5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.jobs.models import Job
from apps.live.events import CLOSE_NOT_FOUND, CLOSE_REVOKED, progress_message, publish
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN, ws_close_code

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(users, dataset) -> Job:
    return Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", frames_total=48)


def token_for(user: Any, name: str) -> tuple[int, str]:
    token, key = token_create(user=user, name=name)
    return token.pk, key


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def open_socket(job_id: int, *, key: str | None = None, cookie: str | None = None):
    headers = [ORIGIN]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    query = f"?token={key}" if key else ""
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/{query}", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    assert json.loads(await ws.receive_from(timeout=10))["type"] == "status"
    return ws


async def test_revoking_a_token_closes_its_sockets_and_only_those(users, job):
    revoked_id, revoked_key = await database_sync_to_async(token_for)(users.owner, "script")
    _, kept_key = await database_sync_to_async(token_for)(users.owner, "other script")
    client = await database_sync_to_async(logged_in)(users.owner)
    with_revoked = [await open_socket(job.pk, key=revoked_key) for _ in range(2)]
    with_kept = await open_socket(job.pk, key=kept_key)
    with_session = await open_socket(job.pk, cookie=client.cookies["sessionid"].value)

    response = await database_sync_to_async(client.delete)(f"/api/tokens/{revoked_id}/")
    assert response.status_code == 204

    for ws in with_revoked:
        assert await ws.receive_output(timeout=10) == {
            "type": "websocket.close",
            "code": CLOSE_REVOKED,
        }
    # The others keep streaming the job's events.
    await database_sync_to_async(publish)(progress_message(job.pk, "analysis", done=3, total=48))
    for ws in (with_kept, with_session):
        assert json.loads(await ws.receive_from(timeout=10)) == progress_message(
            job.pk, "analysis", done=3, total=48
        )
        await ws.disconnect()
    # And the revoked key opens nothing any more.
    ws = WebsocketCommunicator(
        application, f"/ws/jobs/{job.pk}/?token={revoked_key}", headers=[ORIGIN]
    )
    assert await ws_close_code(ws) == CLOSE_NOT_FOUND


async def test_revoking_on_the_tokens_page_closes_the_socket(users, job):
    token_id, key = await database_sync_to_async(token_for)(users.owner, "notebook")
    ws = await open_socket(job.pk, key=key)
    client = await database_sync_to_async(logged_in)(users.owner)
    response = await database_sync_to_async(client.post)(f"/tokens/{token_id}/revoke/")
    assert response.status_code == 302
    assert await ws.receive_output(timeout=10) == {"type": "websocket.close", "code": CLOSE_REVOKED}


async def test_revoking_in_the_admin_closes_the_socket(users, job):
    token_id, key = await database_sync_to_async(token_for)(users.owner, "cron")
    ws = await open_socket(job.pk, key=key)
    superuser = await database_sync_to_async(User.objects.create_superuser)("admin", password="pw")
    admin = await database_sync_to_async(logged_in)(superuser)
    response = await database_sync_to_async(admin.post)(
        f"/admin/accounts/apitoken/{token_id}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not await database_sync_to_async(ApiToken.objects.filter(pk=token_id).exists)()
    assert await ws.receive_output(timeout=10) == {"type": "websocket.close", "code": CLOSE_REVOKED}


# --- a deactivated or deleted user ---------------------------------------------------------


async def user_sockets(users, job):
    """Two sockets of ``alice`` (token, session) and one of a staff user who watches too."""
    _, key = await database_sync_to_async(token_for)(users.owner, "script")
    client = await database_sync_to_async(logged_in)(users.owner)
    superuser = await database_sync_to_async(User.objects.create_superuser)("admin", password="pw")
    admin = await database_sync_to_async(logged_in)(superuser)
    alices = [
        await open_socket(job.pk, key=key),
        await open_socket(job.pk, cookie=client.cookies["sessionid"].value),
    ]
    watcher = await open_socket(job.pk, cookie=admin.cookies["sessionid"].value)
    return alices, watcher, admin, key


async def assert_closed_and_watcher_streams(alices, watcher, job) -> None:
    for ws in alices:
        assert await ws.receive_output(timeout=10) == {
            "type": "websocket.close",
            "code": CLOSE_REVOKED,
        }
    await database_sync_to_async(publish)(progress_message(job.pk, "analysis", done=5, total=48))
    assert json.loads(await watcher.receive_from(timeout=10)) == progress_message(
        job.pk, "analysis", done=5, total=48
    )
    await watcher.disconnect()


async def test_deactivating_a_user_closes_their_sockets_and_only_theirs(users, job):
    alices, watcher, _admin, key = await user_sockets(users, job)

    def deactivate() -> None:  # as any code that saves the user does
        alice = User.objects.get(pk=users.owner.pk)
        alice.is_active = False
        alice.save(update_fields=["is_active"])

    await database_sync_to_async(deactivate)()
    await assert_closed_and_watcher_streams(alices, watcher, job)
    # Their token opens nothing any more.
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/?token={key}", headers=[ORIGIN])
    assert await ws_close_code(ws) == CLOSE_NOT_FOUND


async def test_deleting_a_user_in_the_admin_closes_their_sockets(users, job):
    alices, watcher, admin, _key = await user_sockets(users, job)
    response = await database_sync_to_async(admin.post)(
        f"/admin/auth/user/{users.owner.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not await database_sync_to_async(User.objects.filter(pk=users.owner.pk).exists)()
    await assert_closed_and_watcher_streams(alices, watcher, job)


async def test_saving_an_active_user_closes_nothing(users, job):
    alices, watcher, _admin, _key = await user_sockets(users, job)
    await database_sync_to_async(lambda: User.objects.get(pk=users.owner.pk).save())()
    await database_sync_to_async(publish)(progress_message(job.pk, "analysis", done=7, total=48))
    for ws in (*alices, watcher):
        assert json.loads(await ws.receive_from(timeout=10)) == progress_message(
            job.pk, "analysis", done=7, total=48
        )
        await ws.disconnect()
