"""What the dask scheduler says about its workers, asked afresh each time.

``Client.scheduler_info(n_workers=-1)`` fetches every worker into a cache and returns the
cache; the client's own periodic refresh rewrites that cache with no workers in it, so a call
racing the refresh can read "no workers" from a full cluster. These helpers ask the scheduler
and return its answer, not the cache.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any


def scheduler_identity(client: Any) -> dict[str, Any]:
    """The scheduler's identity with every connected worker under ``"workers"``."""
    return dict(client.sync(client.scheduler.identity, n_workers=-1))


def identity_future(client: Any) -> Future[dict[str, Any]]:
    """:func:`scheduler_identity` asked now, answered into a future: the caller goes on."""
    return asyncio.run_coroutine_threadsafe(
        client.scheduler.identity(n_workers=-1), client.loop.asyncio_loop
    )


def worker_names(client: Any) -> dict[str, str]:
    """``{worker name: address}`` of the workers now connected to the scheduler."""
    return names(scheduler_identity(client)["workers"])


def names(workers: dict[str, Any]) -> dict[str, str]:
    """``{worker name: address}`` of an identity's ``"workers"`` (names as strings: a
    sidecar's ``nodes`` are compared with them)."""
    return {str(info.get("name")): address for address, info in workers.items()}
