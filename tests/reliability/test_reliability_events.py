"""Job events from synchronous code (the job driver, views) over a Redis channel layer: one
connection per process for all of them, in order, and again after Redis restarts.

Runs on the services pass; Redis is a private server the fixtures start.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer

from apps.live import sender
from apps.live.events import (
    CLOSE_REVOKED,
    close_event,
    close_user_sockets,
    group_name,
    progress_message,
    publish,
    user_group,
)

pytestmark = [pytest.mark.services]

JOB = 4242


def _listen(layer: Any) -> str:
    async def join() -> str:
        channel = await layer.new_channel()
        await layer.group_add(group_name(JOB), channel)
        return channel

    return asyncio.run(join())


def _received(layer: Any, channel: str, count: int) -> list[int]:
    async def receive() -> list[int]:
        events = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(count)]
        return [e["message"]["done"] for e in events]

    return asyncio.run(receive())


def _connections(url: str) -> int:
    return int(redis.Redis.from_url(url).info("stats")["total_connections_received"])


def test_events_share_one_connection_keep_their_order_and_survive_a_restart(
    private_redis: Any,
) -> None:
    layer = get_channel_layer()
    channel = _listen(layer)
    before = _connections(private_redis.url)
    for done in range(20):
        publish(progress_message(JOB, "analysis", done=done, total=30))
    other = threading.Thread(
        target=lambda: [
            publish(progress_message(JOB, "analysis", done=d, total=30)) for d in (20, 21)
        ]
    )
    other.start()
    other.join()
    # one connection for the 22 events of both threads (the probe's own is the other one);
    # with a new event loop per send each event opened a connection
    assert _connections(private_redis.url) - before <= 2
    assert _received(layer, channel, 22) == list(range(22))

    private_redis.restart()  # the sender's connection is gone: the next send reconnects
    channel = _listen(layer)
    publish(progress_message(JOB, "analysis", done=29, total=30))
    assert _received(layer, channel, 1) == [29]


def test_a_jobs_events_are_not_waited_for_and_closing_sockets_is(
    private_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver hands a job's events over and goes on (they still arrive, in order); closing
    a user's sockets returns only once the close is sent, after everything queued before it."""
    layer = get_channel_layer()
    channel = _listen(layer)
    closes = asyncio.run(_join(layer, user_group(7)))
    gate = threading.Event()
    send = layer.group_send

    async def held(group: str, event: dict[str, Any]) -> None:
        while not gate.is_set():  # Redis is slow to answer
            await asyncio.sleep(0.01)
        await send(group, event)

    monkeypatch.setattr(layer, "group_send", held)
    driver = threading.Thread(
        target=lambda: [
            publish(progress_message(JOB, "analysis", done=d, total=30)) for d in range(3)
        ]
    )
    driver.start()
    driver.join(timeout=10)
    assert not driver.is_alive(), "publish waited for Redis"

    view = threading.Thread(target=close_user_sockets, args=(7,))
    view.start()
    view.join(timeout=0.5)
    assert view.is_alive(), "closing the sockets returned before the close was sent"
    gate.set()
    view.join(timeout=10)
    assert not view.is_alive()
    assert _received(layer, channel, 3) == [0, 1, 2]
    closed = asyncio.run(asyncio.wait_for(layer.receive(closes), 10))
    assert closed == close_event(CLOSE_REVOKED)
    assert sender.flush(timeout=10)


async def _join(layer: Any, group: str) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel
