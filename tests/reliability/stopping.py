"""A partition task whose result stops its dask worker ``node-1`` (SIGSTOP) as it is fetched.

In a module of its own, importable as ``tests.reliability.stopping`` by the scheduler and the
workers, which unpickle the task (a test module is imported under its file name only).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from apps.core.analyses.base import PartitionTask


def _plain(value: Any) -> Any:
    return value


class StopsItsWorker:
    """A partition's value that stops its process the first time one is pickled (``marker``
    does not exist yet), if ``stop``."""

    def __init__(self, value: Any, marker: str, stop: bool) -> None:
        self.value = value
        self.marker = marker
        self.stop = stop

    def __reduce__(self) -> tuple[Any, ...]:
        if self.stop and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)  # finished, reported, not yet handed over
        return (_plain, (self.value,))


class StoppingTask(PartitionTask):
    def __init__(self, inner: PartitionTask, marker: str) -> None:
        self.inner = inner
        self.marker = marker

    def __call__(self, partition, roi, should_stop):  # type: ignore[no-untyped-def]
        from distributed import get_worker

        stop = get_worker().name == "node-1"
        return StopsItsWorker(self.inner(partition, roi, should_stop), self.marker, stop)
