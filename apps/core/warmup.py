"""A dask worker plugin that loads the compiled loops when a worker starts."""

from __future__ import annotations

import threading
from typing import Any

from distributed import WorkerPlugin

from apps.core import kernels


class WarmUp(WorkerPlugin):
    """Loads numba and the fold (:func:`apps.core.kernels.warm_up`) in the background, so the
    first sum on a new worker does not wait for them (0.5 s)."""

    name = "libertem-portal-warm-up"

    def setup(self, worker: Any) -> None:
        threading.Thread(target=kernels.warm_up, name="warm-up", daemon=True).start()
