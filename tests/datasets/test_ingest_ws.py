"""Ingestion progress reaches the browser over ``/ws/jobs/<id>/`` like an analysis job's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.services import token_create
from apps.jobs import runner
from libertem_site.asgi import application
from tests.datasets.test_ingest_api import data, h5_dataset, nodes, thread_runner  # noqa: F401
from tests.jobs.support import (  # noqa: F401 - fixtures are found by name
    ORIGIN,
    close_async_connections,
    inline_executor,
    wait_terminal,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner", "close_async_connections"),
]


async def test_it_streams_ingestion_progress_and_the_end(
    users: Any,
    client_for: Any,
    h5_dataset: Any,  # noqa: F811 - the fixture
    nodes: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held: list[int] = []
    real = runner.enqueue
    monkeypatch.setattr(runner, "enqueue", lambda job_id, **kw: held.append(job_id))
    response = await database_sync_to_async(
        lambda: client_for(users.owner).post(
            f"/api/datasets/{h5_dataset.pk}/ingest/",
            {"partitions": 6},
            content_type="application/json",
        )
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
