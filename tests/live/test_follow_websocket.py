"""The follow socket ``/ws/jobs/`` through the full ASGI stack: one socket, job after job."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from apps.accounts.services import token_create
from apps.jobs.models import Job
from apps.live.events import CLOSE_NOT_FOUND, CLOSE_REVOKED, EVENT_TYPE, group_name
from apps.portal.follow import follow_target
from apps.results.store import results_replace
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)


def feed_of(user: Any) -> WebsocketCommunicator:
    query = "" if user is None else f"?token={token_create(user=user, name='feed')[1]}"
    return WebsocketCommunicator(application, f"/ws/jobs/{query}", headers=[ORIGIN])


async def open_feed(user: Any) -> WebsocketCommunicator:
    ws = await database_sync_to_async(feed_of)(user)
    connected, _ = await ws.connect()
    assert connected
    return ws


async def receive_json(ws: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await ws.receive_from(timeout=timeout))


async def follow(ws: WebsocketCommunicator, job_id: Any) -> dict[str, Any]:
    await ws.send_to(text_data=json.dumps({"follow": job_id}))
    return await receive_json(ws)


def progress(job_id: int, done: int) -> dict[str, Any]:
    return {"type": EVENT_TYPE, "message": {"type": "progress", "id": job_id, "done": done}}


@pytest.fixture
def jobs(users, dataset):
    """Two of alice's jobs, shared with those who see the dataset (the member among them)."""
    return [
        Job.objects.create(
            owner=users.owner, dataset=dataset, analysis="sum", frames_total=48, shared=True
        )
        for _ in range(2)
    ]


@pytest.mark.parametrize("who", ["owner", "member", "staff"])
async def test_it_follows_one_job_after_another_on_one_socket(users, jobs, who):
    first, second = jobs
    ws = await open_feed(getattr(users, who))
    status = await follow(ws, first.pk)
    assert (status["type"], status["id"], status["status"]) == ("status", first.pk, "queued")
    assert status["progress"] == {"done": 0, "total": 48}
    assert (await follow(ws, second.pk))["id"] == second.pk
    # Following the second job stopped the first: only the second's events come.
    layer = get_channel_layer()
    await layer.group_send(group_name(first.pk), progress(first.pk, 3))
    await layer.group_send(group_name(second.pk), progress(second.pk, 5))
    assert await receive_json(ws) == {"type": "progress", "id": second.pk, "done": 5}
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_a_followed_finished_job_comes_with_its_final_image(users, jobs):
    job = jobs[0]
    mean = np.arange(48, dtype=np.float32).reshape(4, 12) / 7

    def finished() -> None:
        Job.objects.filter(pk=job.pk).update(status="finished", frames_done=48)
        results_replace(job=job, results={"mean": mean, "sum": mean * 48})

    await database_sync_to_async(finished)()
    ws = await open_feed(users.member)
    status = await follow(ws, job.pk)
    assert (status["status"], status["image"]) == ("finished", "mean")
    npy = (await ws.receive_output(timeout=5))["bytes"]
    np.testing.assert_array_equal(np.load(io.BytesIO(npy)), mean)
    await ws.disconnect()


@pytest.mark.parametrize("who", ["outsider", "member"])
async def test_it_refuses_a_job_the_user_may_not_see_and_stays_open(users, jobs, who):
    hidden, shared = jobs

    def unshare() -> None:
        Job.objects.filter(pk=hidden.pk).update(shared=False)

    await database_sync_to_async(unshare)()
    ws = await open_feed(getattr(users, who))
    refused = await follow(ws, hidden.pk)
    assert refused == {
        "type": "refused",
        "id": hidden.pk,
        "code": CLOSE_NOT_FOUND,
        "error": f"Job {hidden.pk} does not exist or is not shown to you.",
    }
    # Nothing of the refused job reaches the socket.
    await get_channel_layer().group_send(group_name(hidden.pk), progress(hidden.pk, 1))
    assert await ws.receive_nothing(timeout=0.3)
    # A missing job looks the same.
    assert (await follow(ws, 999999))["type"] == "refused"
    # The socket stays usable: the member goes on to a job shared with them.
    answer = await follow(ws, shared.pk)
    assert answer["type"] == ("status" if who == "member" else "refused")
    await ws.disconnect()


@pytest.mark.parametrize("unshare", ["dataset", "job"])
async def test_access_revoked_between_follows_is_obeyed(users, jobs, unshare):
    from apps.datasets.services import dataset_share
    from apps.jobs.services import job_share

    first, second = jobs
    ws = await open_feed(users.member)
    assert (await follow(ws, first.pk))["type"] == "status"
    if unshare == "dataset":
        await database_sync_to_async(dataset_share)(
            user=users.owner, dataset=first.dataset, groups=[]
        )
    else:
        await database_sync_to_async(job_share)(user=users.owner, job=second, shared=False)
        await database_sync_to_async(job_share)(user=users.owner, job=first, shared=False)
    # The job followed is taken away while followed...
    assert (await receive_json(ws))["type"] == "refused"
    await get_channel_layer().group_send(group_name(first.pk), progress(first.pk, 2))
    assert await ws.receive_nothing(timeout=0.3)
    # ...and the next follow checks again.
    assert (await follow(ws, second.pk))["type"] == "refused"
    owner = await open_feed(users.owner)
    assert (await follow(owner, second.pk))["type"] == "status"
    await ws.disconnect()
    await owner.disconnect()


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("not json", "no JSON"),
        ("[1, 2]", "exactly"),
        ('{"follow": 3, "extra": 1}', "exactly"),
        ('{"job": 3}', "exactly"),
        ('{"follow": "3"}', 'not "3"'),
        ('{"follow": -1}', "not -1"),
        ('{"follow": 1.5}', "not 1.5"),
        ('{"follow": true}', "not true"),
        ('{"follow": null}', "not null"),
        ('{"follow": 99999999999999999999999}', "positive whole number"),
    ],
)
async def test_a_malformed_follow_gets_a_clear_error_and_the_socket_lives_on(
    users, jobs, frame, says
):
    ws = await open_feed(users.owner)
    await ws.send_to(text_data=frame)
    error = await receive_json(ws)
    assert error["type"] == "error"
    assert says in error["error"]
    assert '{"follow": <job id>}' in error["error"]
    assert (await follow(ws, jobs[0].pk))["type"] == "status"
    await ws.disconnect()


async def test_a_binary_frame_gets_an_error(users):
    ws = await open_feed(users.owner)
    await ws.send_to(bytes_data=b"\x00")
    assert "not binary" in (await receive_json(ws))["error"]
    await ws.disconnect()


async def test_it_closes_anonymous_sockets_with_4404(users):
    ws = await database_sync_to_async(feed_of)(None)
    assert (await ws.connect())[0]
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_it_closes_with_4401_when_the_token_is_revoked(users, jobs):
    from apps.accounts.models import ApiToken
    from apps.accounts.services import token_revoke

    ws = await open_feed(users.owner)
    assert (await follow(ws, jobs[0].pk))["type"] == "status"
    token = await database_sync_to_async(lambda: ApiToken.objects.get(user=users.owner))()
    await database_sync_to_async(token_revoke)(user=users.owner, token=token)
    assert await ws.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_REVOKED,
    }


def test_follow_target_reads_the_job_id():
    assert follow_target('{"follow": 12}') == 12
    assert follow_target(None).startswith("Send text frames")
