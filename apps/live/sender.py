"""Sends to a channel layer over the network (Redis) from synchronous code: the job driver, a
Celery worker, views.

One event loop per process, on a thread of its own, keeps the layer's connection:
channels_redis keeps its connections per event loop, and ``async_to_sync`` runs every call in a
new loop, so each event opened (and closed) a Redis connection of its own, 3.6 ms a send
against 0.4 ms (docs/performance.md).

The sends wait in one queue and go out one after the other, so the events a thread hands over
keep their order. A job's events are not waited for: the driver hands each over and goes on
(waiting took a round trip to Redis per event, a millisecond of each job's fixed cost in
production). A send that must have happened before its caller answers (a revoked token's or a
deactivated user's sockets closed, an access withdrawn) is waited for, with everything queued
before it. A failed send is logged; the database stays the truth. What is still queued when
the process exits is sent first, for at most :data:`FLUSH_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger(__name__)

#: seconds a send may take before it is given up (logged; the database stays the truth)
SEND_TIMEOUT = 30.0
#: seconds an exiting process waits for its queued sends
FLUSH_TIMEOUT = 5.0

#: (layer, group, event, what it is, a future to resolve once sent); layer None: a flush mark
_Send = tuple[Any, str, dict[str, Any], str, "Future[None] | None"]


class Sender:
    """The queue of one process's sends and the event loop that makes them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[_Send] = asyncio.Queue()
        ready = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(ready,), name="channel-sender", daemon=True
        )
        thread.start()
        ready.wait()

    @property
    def usable(self) -> bool:
        """False in a forked child (a Celery worker process does not inherit the thread) or
        once the loop is closed."""
        return self.pid == os.getpid() and not self.loop.is_closed()

    def send(self, layer: Any, group: str, event: dict[str, Any], what: str, *, wait: bool) -> None:
        """Queue ``event`` for ``group``; with ``wait``, return once it (and every send queued
        before it) is done, TimeoutError after :data:`SEND_TIMEOUT`."""
        done: Future[None] | None = Future() if wait else None
        self.loop.call_soon_threadsafe(self._queue.put_nowait, (layer, group, event, what, done))
        if done is not None:
            done.result(timeout=SEND_TIMEOUT)

    def flush(self, timeout: float) -> bool:
        """Wait until every send queued so far is done; False if ``timeout`` passed first."""
        done: Future[None] = Future()
        self.loop.call_soon_threadsafe(self._queue.put_nowait, (None, "", {}, "", done))
        try:
            done.result(timeout=timeout)
        except TimeoutError:
            return False
        return True

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._drain())
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    async def _drain(self) -> None:
        while True:
            layer, group, event, what, done = await self._queue.get()
            try:
                if layer is not None:
                    await asyncio.wait_for(layer.group_send(group, event), SEND_TIMEOUT)
            except Exception:
                logger.warning("could not send %s", what, exc_info=True)
            finally:
                if done is not None:
                    done.set_result(None)


_sender: Sender | None = None
_lock = threading.Lock()


def sender() -> Sender:
    """This process's sender, started on first use (again in a forked child)."""
    global _sender
    with _lock:
        if _sender is None or not _sender.usable:
            _sender = Sender()
        return _sender


def flush(timeout: float = FLUSH_TIMEOUT) -> bool:
    """Send what this process has queued (True: all of it within ``timeout`` seconds)."""
    current = _sender
    if current is None or not current.usable:
        return True
    return current.flush(timeout)


atexit.register(flush)
