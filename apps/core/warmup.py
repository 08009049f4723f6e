"""A dask worker plugin that prepares a worker for partitions when it starts.

Production workers load it themselves: ``dask worker --preload apps.core.warmup`` (the
Procfile) calls :func:`dask_setup`; executors also register :class:`WarmUp` with the scheduler
(without waiting) for workers started otherwise, such as a LocalCluster's.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from distributed import WorkerPlugin

from apps.core import kernels
from apps.core.io import mapping


class WarmUp(WorkerPlugin):
    """Loads numba and the fold (:func:`apps.core.kernels.warm_up`) in the background, so the
    first sum on a new worker does not wait for them, and keeps the worker's memory
    maps (:mod:`apps.core.io.mapping`) to half its memory limit, and the read pages mapped in
    to :func:`resident_budget`: dask counts the mapped-in pages of files in the worker's
    memory, and pauses (80 %) or restarts (95 %) a worker past its limit."""

    name = "libertem-portal-warm-up"

    def setup(self, worker: Any) -> None:
        limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        if limit:
            mapping.limit_bytes(int(limit) // 2)
            mapping.limit_resident(resident_budget(int(limit)))
        threading.Thread(target=kernels.warm_up, name="warm-up", daemon=True).start()
        quiet_closing_heartbeats(worker)


#: What dask's worker logs, with a traceback, when a heartbeat meets a closed connection.
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"
_CLOSING = ("closing", "closing_gracefully", "closed", "stopping", "stopped")


class ClosingHeartbeats(logging.Filter):
    """Drops the heartbeat failure a worker logs while it is closing: a heartbeat still in
    flight when the worker closes its own connections fails, and Ctrl-C on ``manage.py serve``
    printed that traceback. The same failure of a running worker (a lost scheduler) is kept."""

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(getattr(self.worker, "status", None), "value", None)
        return not (status in _CLOSING and str(record.msg).startswith(HEARTBEAT_FAILED))


def quiet_closing_heartbeats(worker: Any) -> None:
    logging.getLogger("distributed.worker").addFilter(ClosingHeartbeats(worker))


#: What an idle worker holds (numpy, numba, dask loaded: about 200 MiB) and some room.
WORKER_BASE_BYTES = 256 * 2**20


def resident_budget(memory_limit: int) -> int:
    """Bytes of read file pages a worker with ``memory_limit`` keeps mapped in: half the limit
    less what an idle worker holds, at least an eighth. With a tile (at most a quarter of the
    budget) and the task's allocations the worker stays below dask's pause at 80 %: 64 MiB of
    a 512 MiB worker, 1.75 GiB of a 4 GiB one (a second analysis of 1.75 GiB of data per
    worker finds its pages mapped)."""
    return max(memory_limit // 8, memory_limit // 2 - WORKER_BASE_BYTES)


def dask_setup(worker: Any) -> None:
    """``dask worker --preload apps.core.warmup``: warm the worker up as it starts."""
    WarmUp().setup(worker)
