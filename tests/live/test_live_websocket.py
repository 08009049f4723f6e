"""The job websocket through the full ASGI stack: origin check, auth, access, live events."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import channels.consumer
import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from apps.accounts.services import token_create
from apps.core.executor import InlineExecutor
from apps.jobs import executor as job_executor
from apps.jobs.models import Job
from apps.live.events import CLOSE_NOT_FOUND, CLOSE_REVOKED, EVENT_TYPE, group_name
from apps.results.models import Result
from apps.results.store import partial_save, results_replace
from libertem_site.asgi import application
from tests.jobs.support import ORIGIN, submit, wait_terminal, ws_close_code

pytestmark = pytest.mark.django_db(transaction=True)


class ManyPartitions(InlineExecutor):
    """One row of the scan per partition, so the job reports progress several times."""

    def partitions(self, dataset: Any, target_bytes: int = 0, **kw: Any) -> list[Any]:
        return dataset.partitions(count=dataset.nav_shape[0])


def connect_as(
    user: Any, job_id: int, *, origin: tuple[bytes, bytes] = ORIGIN
) -> WebsocketCommunicator:
    query = ""
    if user is not None:
        query = f"?token={token_create(user=user, name='ws')[1]}"
    return WebsocketCommunicator(application, f"/ws/jobs/{job_id}/{query}", headers=[origin])


def session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def job(users, dataset):
    """alice's job, shared with those who see the dataset (the member among them)."""
    return Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", frames_total=48, shared=True
    )


async def receive_json(ws: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await ws.receive_from(timeout=timeout))


@pytest.mark.parametrize("who", ["owner", "member", "staff"])
async def test_it_sends_the_status_on_connect(users, job, who):
    ws = await database_sync_to_async(connect_as)(getattr(users, who), job.pk)
    connected, _ = await ws.connect()
    assert connected
    message = await receive_json(ws)
    assert message["type"] == "status"
    assert (message["id"], message["status"], message["progress"]) == (
        job.pk,
        "queued",
        {"done": 0, "total": 48},
    )
    await ws.disconnect()


@pytest.mark.parametrize("unshare", ["dataset", "job"])
async def test_it_closes_a_watching_socket_when_access_is_lost(users, job, unshare):
    """The member watches alice's shared job; alice unshares the dataset (or the job)."""
    from apps.datasets.services import dataset_share
    from apps.jobs.services import job_share

    member = await database_sync_to_async(connect_as)(users.member, job.pk)
    owner = await database_sync_to_async(connect_as)(users.owner, job.pk)
    for ws in (member, owner):
        assert (await ws.connect())[0]
        assert (await receive_json(ws))["type"] == "status"
    if unshare == "dataset":
        await database_sync_to_async(dataset_share)(
            user=users.owner, dataset=job.dataset, groups=[]
        )
    else:
        await database_sync_to_async(job_share)(user=users.owner, job=job, shared=False)
    assert await member.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_NOT_FOUND,
    }
    # The owner keeps watching: the next event still reaches them.
    await get_channel_layer().group_send(
        group_name(job.pk), {"type": EVENT_TYPE, "message": {"type": "progress", "done": 1}}
    )
    assert (await receive_json(owner))["done"] == 1
    await owner.disconnect()


@pytest.mark.parametrize("who", ["outsider", None])
async def test_it_refuses_users_who_may_not_see_the_job(users, job, who):
    user = getattr(users, who) if who else None
    ws = await database_sync_to_async(connect_as)(user, job.pk)
    assert await ws_close_code(ws) == CLOSE_NOT_FOUND


async def test_it_refuses_a_missing_job(users):
    ws = await database_sync_to_async(connect_as)(users.staff, 999999)
    assert await ws_close_code(ws) == CLOSE_NOT_FOUND


async def test_it_closes_with_4401_when_the_token_is_revoked_during_the_connect(
    users, job, monkeypatch
):
    """The token was valid for the authentication, revoked before the access check."""
    from apps.accounts.models import ApiToken
    from apps.portal import consumers

    ws = await database_sync_to_async(connect_as)(users.owner, job.pk)
    checked = consumers.visible_state

    def revoked_first(user: Any, job_id: Any, token_hash: str | None) -> Any:
        ApiToken.objects.filter(key_hash=token_hash).delete()
        return checked(user, job_id, token_hash)

    monkeypatch.setattr(consumers, "visible_state", revoked_first)
    assert await ws_close_code(ws) == CLOSE_REVOKED


async def test_it_accepts_a_session_cookie(users, job):
    cookie = await database_sync_to_async(session_cookie)(users.member)
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=[ORIGIN, cookie])
    connected, _ = await ws.connect()
    assert connected
    assert (await receive_json(ws))["type"] == "status"
    await ws.disconnect()


async def test_it_refuses_a_foreign_origin(users, job):
    ws = await database_sync_to_async(connect_as)(
        users.owner, job.pk, origin=(b"origin", b"https://evil.example")
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_it_catches_a_late_browser_up_with_the_latest_partial(users, job):
    image = np.arange(12, dtype=np.float32).reshape(3, 4)

    def running() -> None:
        Job.objects.filter(pk=job.pk).update(status="running", attempt=1, frames_done=20)
        partial_save(job=job, name="mean", array=image)

    await database_sync_to_async(running)()
    ws = await database_sync_to_async(connect_as)(users.member, job.pk)
    await ws.connect()
    assert (await receive_json(ws))["status"] == "running"
    partial = await receive_json(ws)
    assert partial == {
        "type": "partial",
        "id": job.pk,
        "kind": "analysis",
        "name": "mean",
        "shape": [3, 4],
        "dtype": "float32",
        "done": 20,
        "total": 48,
    }
    pixels = await ws.receive_output(timeout=5)
    np.testing.assert_array_equal(np.frombuffer(pixels["bytes"], "<f4").reshape(3, 4), image)
    await ws.disconnect()


@pytest.mark.parametrize("rows", [16, 1024])
async def test_a_finished_jobs_status_on_connect_comes_with_its_final_image(users, job, rows):
    # A fast job often ends before the page's socket is open: its status then brings the
    # preview result (sum's is "mean") as the finished message would, up to 1 MiB of .npy.
    mean = np.arange(rows * 300, dtype=np.float32).reshape(rows, 300) / 7

    def finished() -> None:
        Job.objects.filter(pk=job.pk).update(status="finished", frames_done=48)
        results_replace(job=job, results={"mean": mean, "sum": mean * 48})

    await database_sync_to_async(finished)()
    ws = await database_sync_to_async(connect_as)(users.member, job.pk)
    await ws.connect()
    status = await receive_json(ws)
    assert status["status"] == "finished"
    assert sorted(r["name"] for r in status["results"]) == ["mean", "sum"]
    if rows == 1024:  # 1.2 MB: the page fetches it
        assert "image" not in status
        assert await ws.receive_nothing(timeout=0.5)
    else:
        assert status["image"] == "mean"
        npy = (await ws.receive_output(timeout=5))["bytes"]
        np.testing.assert_array_equal(np.load(io.BytesIO(npy)), mean)
    await ws.disconnect()


async def test_job_events_reach_the_browser_without_a_database_hop(users, job, monkeypatch):
    # channels closes old connections in a thread before each handler; events need no database,
    # and connect reads the database through database_sync_to_async, which closes them itself
    hops: list[int] = []

    async def counted() -> None:
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    ws = await database_sync_to_async(connect_as)(users.owner, job.pk)
    await ws.connect()
    assert (await receive_json(ws))["type"] == "status"
    before = len(hops)
    event = {"type": EVENT_TYPE, "message": {"type": "progress", "done": 7}, "binary": b"\x01\x02"}
    await get_channel_layer().group_send(group_name(job.pk), event)
    assert await receive_json(ws) == {"type": "progress", "done": 7}
    assert (await ws.receive_output(timeout=5))["bytes"] == b"\x01\x02"
    assert len(hops) == before == 0
    await ws.disconnect()


@pytest.mark.usefixtures("thread_runner")
async def test_it_streams_progress_partials_and_finished(
    users, client_for, dataset, held_jobs, settings
):
    # Every partition reports: so fast a job would otherwise end within one interval, with
    # no preview sent (the final result comes first).
    settings.JOB_PROGRESS_INTERVAL = 0
    job_executor.set_executor(ManyPartitions())
    try:
        response = await database_sync_to_async(
            lambda: submit(client_for(users.owner), dataset, "sum")
        )()
        job_id = response.json()["id"]
        ws = await database_sync_to_async(connect_as)(users.owner, job_id)
        await ws.connect()
        assert (await receive_json(ws))["status"] == "queued"
        await database_sync_to_async(held_jobs.release)()
        messages = await _until_terminal(ws)
        await ws.disconnect()
        await database_sync_to_async(wait_terminal)(job_id)
    finally:
        job_executor.set_executor(None)
    types = [m["type"] for m in messages if "type" in m]
    assert types[0] == "status"
    assert types[-1] == "finished"
    assert "progress" in types
    assert "partial" in types
    assert types.index("progress") < types.index("finished")
    progress = [m for m in messages if m.get("type") == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 48
    # each partial is followed by its float32 pixels (the sig-shaped mean frame)
    for i, m in enumerate(messages):
        if m.get("type") == "partial":
            assert (m["name"], m["shape"], m["dtype"]) == ("mean", [16, 12], "float32")
            assert len(messages[i + 1]["bytes"]) == 16 * 12 * 4
    finished = messages[-2]
    assert sorted(r["name"] for r in finished["results"]) == ["max", "mean", "sum"]
    assert finished["results"][0]["urls"]["npy"].startswith(f"/api/jobs/{job_id}/results/")
    # the preview's .npy comes with the message, the bytes its download gives (no fetch)
    assert finished["image"] == "mean"
    stored = await database_sync_to_async(
        lambda: bytes(Result.objects.get(job_id=job_id, name="mean", partial=False).data)
    )()
    assert messages[-1]["bytes"] == stored
    assert np.load(io.BytesIO(stored)).shape == (16, 12)
    # so do the run's time and throughput, as the job's API gives them (no fetch either)
    shown = await database_sync_to_async(
        lambda: client_for(users.owner).get(f"/api/jobs/{job_id}/").json()
    )()
    assert finished["seconds"] == shown["seconds"] > 0
    assert finished["throughput_gbs"] == shown["throughput_gbs"] > 0


async def test_a_requeue_by_the_reaper_sends_the_status_the_client_needs(
    users, dataset, held_jobs, settings
):
    from apps.jobs import reaper

    settings.JOB_HEARTBEAT_TIMEOUT = 60
    settings.JOB_MAX_ATTEMPTS = 2

    def stalled() -> Job:
        stale = timezone.now() - timedelta(seconds=61)
        return Job.objects.create(
            owner=users.owner,
            dataset=dataset,
            analysis="sum",
            status="running",
            attempt=1,
            frames_done=20,
            frames_total=48,
            started=stale,
            heartbeat=stale,
        )

    job = await database_sync_to_async(stalled)()
    ws = await database_sync_to_async(connect_as)(users.owner, job.pk)
    assert (await ws.connect())[0]
    assert (await receive_json(ws))["progress"] == {"done": 20, "total": 48}
    report = await database_sync_to_async(reaper.reap)()
    assert report.requeued == [job.pk]
    message = await receive_json(ws)
    await ws.disconnect()
    error = "Attempt 1 stopped responding (no heartbeat for 60 s); queued to run again."
    assert message == {
        "type": "status",
        "id": job.pk,
        "kind": "analysis",
        "status": "queued",
        "progress": {"done": 0, "total": 48},
        "error": error,
    }
    assert held_jobs.ids == [job.pk]


async def _until_terminal(ws: WebsocketCommunicator) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        raw = await ws.receive_output(timeout=30)
        if raw.get("bytes") is not None:
            messages.append({"bytes": raw["bytes"]})
            continue
        message = json.loads(raw["text"])
        messages.append(message)
        if message["type"] in ("finished", "failed", "cancelled"):
            if message.get("image"):  # its .npy follows
                messages.append({"bytes": (await ws.receive_output(timeout=30))["bytes"]})
            return messages
