"""Tasks pinned to named dask workers (nodes), for ingestion and verification.

Each item runs only on its node (``workers=`` its address, no other worker allowed). A node
that is not up, or leaves while its task runs, fails the whole run with a sentence naming the
partition and the node: a task never silently moves to a node that does not hold the data.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from apps.core.cluster import worker_names
from apps.core.errors import CoreError, JobCancelled

CHECK_SECONDS = 0.5


class NodeError(CoreError):
    """A node that should run a partition's task is not (or no longer) a dask worker."""


def run_pinned(
    client: Any,
    items: list[tuple[Any, tuple[Any, ...]]],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    what: str = "write",
) -> list[Any]:
    """Run ``fn(*args)`` for each ``(copy, (fn, *args))`` on worker ``copy.node``.

    ``copy`` has ``index``, ``node``, ``rel``, ``start`` and ``stop``; progress counts frames.
    """
    from distributed import as_completed

    names = worker_names(client)
    total = sum(c.stop - c.start for c, _ in items)
    running: dict[Any, Any] = {}
    for copy, (fn, *args) in items:
        fut = client.submit(
            fn,
            *args,
            pure=False,
            workers=[_address(copy, names, what)],
            allow_other_workers=False,
            key=f"{what}-{copy.index}-{copy.node}-{uuid.uuid4().hex[:8]}",
        )
        running[fut] = copy
    queue = as_completed(list(running), loop=client.loop)
    done, out, next_check = 0, [], time.monotonic() + CHECK_SECONDS
    try:
        while running:
            if should_stop is not None and should_stop():
                raise JobCancelled()
            if not queue.has_ready():
                if time.monotonic() >= next_check:
                    names = worker_names(client)
                    for copy in running.values():
                        _address(copy, names, what)
                    next_check = time.monotonic() + CHECK_SECONDS
                time.sleep(0.01)
                continue
            fut = next(queue)
            copy = running.pop(fut)
            out.append(_result(fut, copy, what))
            done += copy.stop - copy.start
            if on_progress is not None:
                on_progress(done, total)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(running))
        raise
    return out


def _address(copy: Any, names: dict[str, str], what: str) -> str:
    if copy.node not in names:
        raise NodeError(
            f"partition {copy.index} ({copy.rel}): node {copy.node} is not a running dask worker, "
            f"so it cannot {what} it (running: {', '.join(sorted(names)) or 'none'})."
        )
    return names[copy.node]


def _result(fut: Any, copy: Any, what: str) -> Any:
    try:
        return fut.result()
    except CoreError:
        raise
    except Exception as exc:  # a killed worker, a full disk, a bug
        raise NodeError(
            f"partition {copy.index} ({copy.rel}) on node {copy.node}: {what} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
