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

from apps.live.events import group_name, progress_message, publish

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
