"""A dask worker plugin that prepares a worker for partitions when it starts."""

from __future__ import annotations

import threading
from typing import Any

from distributed import WorkerPlugin

from apps.core import kernels
from apps.core.io import mapping


class WarmUp(WorkerPlugin):
    """Loads numba and the fold (:func:`apps.core.kernels.warm_up`) in the background, so the
    first sum on a new worker does not wait for them (0.5 s), and keeps the worker's memory
    maps (:mod:`apps.core.io.mapping`) to half its memory limit: dask counts the mapped pages
    of files in the worker's memory, and pauses or restarts a worker past its limit."""

    name = "libertem-portal-warm-up"

    def setup(self, worker: Any) -> None:
        limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        if limit:
            mapping.limit_bytes(int(limit) // 2)
        threading.Thread(target=kernels.warm_up, name="warm-up", daemon=True).start()
