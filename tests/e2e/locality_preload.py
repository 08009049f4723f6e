"""dask worker preload for tests/e2e/test_locality.py: with ``LOCALITY_SLOW_WRITES=<seconds>``
every partition block this worker writes takes that long, so a test can kill it mid-way."""

from __future__ import annotations

import os
import time

from apps.core.io.storage import NodeStorage

_delay = float(os.environ.get("LOCALITY_SLOW_WRITES") or 0)
if _delay:
    _write = NodeStorage.write

    def _slow(self: NodeStorage, rel: str, blocks: object) -> str:
        time.sleep(_delay)
        return _write(self, rel, blocks)  # type: ignore[arg-type]

    NodeStorage.write = _slow  # type: ignore[method-assign]
