"""Ingestion progress reaches the browser over ``/ws/jobs/<id>/`` like an analysis job's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.services import token_create
from apps.jobs import queue
from libertem_site.asgi import application
from tests.datasets.test_ingest_api import data, h5_dataset  # noqa: F401 - the fixtures
from tests.jobs.support import ORIGIN, submit_ingest, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]


async def test_it_streams_ingestion_progress_and_the_end(
    users: Any,
    client_for: Any,
    h5_dataset: Any,  # noqa: F811 - the fixture
    nodes: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held: list[int] = []
    real = queue.enqueue
    monkeypatch.setattr(queue, "enqueue", held.append)
    response = await database_sync_to_async(
        lambda: submit_ingest(client_for(users.owner), h5_dataset, partitions=6)
    )()
    job_id = response.json()["id"]
    token = await database_sync_to_async(lambda: token_create(user=users.owner, name="ws")[1])()
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/?token={token}", headers=[ORIGIN])
    assert (await ws.connect())[0]
    first = json.loads(await ws.receive_from(timeout=10))
    assert (first["type"], first["status"], first["analysis"]) == ("status", "queued", "ingest")
    await database_sync_to_async(lambda: [real(j) for j in held])()
    messages = []
    while not messages or messages[-1]["type"] not in ("finished", "failed", "cancelled"):
        messages.append(json.loads(await ws.receive_from(timeout=30)))
    await ws.disconnect()
    await database_sync_to_async(wait_terminal)(job_id)
    types = [m["type"] for m in messages]
    assert types[0] == "status" and types[-1] == "finished" and "progress" in types
    last = [m for m in messages if m["type"] == "progress"][-1]
    assert last["done"] == last["total"] == 48
