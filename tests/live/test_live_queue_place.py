"""A queued job's websocket hears its place in the owner's queue move up."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.services import token_create
from apps.jobs import driver
from apps.jobs.models import Job
from apps.jobs.services import job_cancel
from apps.live.events import queue_message
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN, submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


async def next_of_type(ws: WebsocketCommunicator, kind: str) -> dict:
    while True:
        message = json.loads(await ws.receive_from(timeout=10))
        if message["type"] == kind:
            return message


def test_the_queue_message_carries_the_place():
    assert queue_message(7, "analysis", place=2, running=1, limit=1) == {
        "type": "queue",
        "id": 7,
        "kind": "analysis",
        "place": 2,
        "running": 1,
        "limit": 1,
    }


async def test_a_queued_job_hears_its_place_when_jobs_ahead_start_or_are_cancelled(
    users, client_for, dataset, held_jobs, settings
):
    settings.MAX_RUNNING_JOBS_PER_USER = 1

    def submit_four():
        client = client_for(users.owner)
        return [submit(client, dataset, "sum").json()["id"] for _ in range(4)]

    ids = await database_sync_to_async(submit_four)()
    key = await database_sync_to_async(lambda: token_create(user=users.owner, name="ws")[1])()
    ws = WebsocketCommunicator(application, f"/ws/jobs/{ids[3]}/?token={key}", headers=[ORIGIN])
    assert (await ws.connect())[0]
    status = await next_of_type(ws, "status")
    assert status["queue"] == {"place": 4, "running": 0, "limit": 1}

    claimed = await database_sync_to_async(driver.job_claim)(ids[0])
    assert claimed is not None
    # what run_job does after its claim
    await database_sync_to_async(driver.queue_moved)(users.owner.pk)
    moved = await next_of_type(ws, "queue")
    assert (moved["id"], moved["place"], moved["running"], moved["limit"]) == (ids[3], 3, 1, 1)

    job = await database_sync_to_async(Job.objects.get)(pk=ids[1])
    await database_sync_to_async(job_cancel)(user=users.owner, job=job)
    moved = await next_of_type(ws, "queue")
    assert moved["place"] == 2
    await ws.disconnect()
