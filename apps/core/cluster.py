"""What the dask scheduler says about its workers, asked afresh each time.

``Client.scheduler_info(n_workers=-1)`` fetches every worker into a cache and returns the
cache; the client's own periodic refresh rewrites that cache with no workers in it, so a call
racing the refresh can read "no workers" from a full cluster. These helpers ask the scheduler
and return its answer, not the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


def scheduler_identity(client: Any) -> dict[str, Any]:
    """The scheduler's identity with every connected worker under ``"workers"``."""
    return dict(client.sync(client.scheduler.identity, n_workers=-1))


def identity_future(client: Any) -> Future[dict[str, Any]]:
    """:func:`scheduler_identity` asked now, answered into a future: the caller goes on."""
    return asyncio.run_coroutine_threadsafe(
        client.scheduler.identity(n_workers=-1), client.loop.asyncio_loop
    )


#: Seconds the client's stream to the scheduler waits after a send before its next one.
SEND_INTERVAL = 0.001


def prompt_sends(client: Any) -> None:
    """Let ``client`` send each message to the scheduler within a millisecond of the last.

    The client batches its messages to the scheduler, at most one batch every 10 ms (dask's
    fixed interval): a run's partitions are submitted one message each, so the second one
    waited up to 10 ms behind the first, and its worker idled (docs/performance.md). The
    stream is made anew when the client reconnects, so every run sets it.
    """
    stream = getattr(client, "scheduler_comm", None)
    if stream is not None and getattr(stream, "interval", 0) > SEND_INTERVAL:
        stream.interval = SEND_INTERVAL


def register_in_background(client: Any, plugin: Any) -> Future[Any]:
    """Register a worker plugin with the scheduler without waiting: the scheduler installs it on
    every worker (and on workers that join later), and a hung worker would hold a caller that
    waits for all of them."""
    from distributed.protocol.pickle import dumps

    future = asyncio.run_coroutine_threadsafe(
        client.scheduler.register_worker_plugin(
            plugin=dumps(plugin), name=plugin.name, idempotent=False
        ),
        client.loop.asyncio_loop,
    )
    future.add_done_callback(_log_failure)
    return future


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("a worker plugin was not registered", exc_info=future.exception())


def worker_names(client: Any) -> dict[str, str]:
    """``{worker name: address}`` of the workers now connected to the scheduler."""
    return names(scheduler_identity(client)["workers"])


def names(workers: dict[str, Any]) -> dict[str, str]:
    """``{worker name: address}`` of an identity's ``"workers"`` (names as strings: a
    sidecar's ``nodes`` are compared with them)."""
    return {str(info.get("name")): address for address, info in workers.items()}


def ask_identity(address: str, *, timeout: float) -> dict[str, Any]:
    """:func:`scheduler_identity` asked over one connection of its own, answered within
    ``timeout`` seconds or ``TimeoutError``: for callers without a client (the web process
    when jobs run in Celery), which must never wait for compute."""
    return asyncio.run(asyncio.wait_for(_ask_identity(address, timeout), timeout))


async def _ask_identity(address: str, timeout: float) -> dict[str, Any]:
    from distributed import Security
    from distributed.core import rpc

    # TLS settings come from dask's configuration, as for a Client.
    args = Security().get_connection_args("client")
    scheduler = rpc(address, timeout=timeout, connection_args=args)
    try:
        return dict(await scheduler.identity(n_workers=-1))
    finally:
        await scheduler.close_rpc()


#: A worker whose last heartbeat is older than this is reported hung (a stopped process, a
#: stuck node): dask itself waits minutes (``worker-ttl``) before it gives up on one.
HUNG_AFTER = 10.0


@dataclass
class WorkerHealth:
    """One dask worker as the portal judges it."""

    name: str
    #: ``running``; ``paused`` (dask's memory monitor holds its tasks), ``hung`` (no heartbeat
    #: for ``HUNG_AFTER``), ``missing`` (expected, not connected) or dask's other states
    state: str
    address: str = ""
    silent_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "running"

    def describe(self) -> str:
        if self.state == "hung":
            return f"{self.name} hung (no heartbeat for {self.silent_s:.0f} s)"
        if self.state == "missing":
            return f"{self.name} missing (not connected to the scheduler)"
        return f"{self.name} {self.state}"


def worker_health(
    identity: dict[str, Any],
    *,
    expected: Iterable[str] = (),
    now: float | None = None,
    hung_after: float = HUNG_AFTER,
) -> list[WorkerHealth]:
    """Every connected worker of a scheduler ``identity``, and every ``expected`` worker name
    that is not connected, by name. ``now`` is the scheduler's clock (``time.time()``; the
    scheduler stamps ``last_seen`` with its own clock)."""
    now = time.time() if now is None else now
    found: dict[str, WorkerHealth] = {}
    for address, info in identity.get("workers", {}).items():
        name = str(info.get("name"))
        silent = max(0.0, now - float(info.get("last_seen") or now))
        state = str(info.get("status", "running"))
        if silent > hung_after:
            state = "hung"
        found[name] = WorkerHealth(name, state, address, round(silent, 1))
    for name in expected:
        found.setdefault(str(name), WorkerHealth(str(name), "missing"))
    return [found[name] for name in sorted(found)]
