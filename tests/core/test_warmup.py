"""The worker warm-up keeps a worker's mapped-in file pages below dask's pause threshold."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from apps.core import warmup
from apps.core.io import mapping

MiB = 2**20


@pytest.mark.parametrize(
    ("limit", "resident"),
    [(512 * MiB, 64 * MiB), (1024 * MiB, 256 * MiB), (4096 * MiB, 1792 * MiB)],
)
def test_it_sets_the_maps_budgets_from_the_workers_memory_limit(
    monkeypatch: pytest.MonkeyPatch, limit: int, resident: int
) -> None:
    monkeypatch.setattr(mapping, "MAX_BYTES", 2**40)
    monkeypatch.setattr(mapping, "RESIDENT_BYTES", 2**40)
    monkeypatch.setattr(warmup.kernels, "warm_up", lambda: None)
    worker = SimpleNamespace(memory_manager=SimpleNamespace(memory_limit=limit))
    warmup.dask_setup(worker)  # as `dask worker --preload apps.core.warmup` calls it
    mapped, mapped_in = mapping.MAX_BYTES, mapping.RESIDENT_BYTES
    assert (mapped, mapped_in) == (limit // 2, resident)
    # below dask's pause at 80 %: an idle worker, the budget and a tile of a quarter of it
    assert warmup.WORKER_BASE_BYTES + resident * 5 // 4 < 0.8 * limit


@pytest.mark.parametrize(("status", "kept"), [("running", True), ("closing", False)])
def test_a_heartbeat_failing_while_the_worker_closes_is_not_logged(
    caplog: pytest.LogCaptureFixture, status: str, kept: bool
) -> None:
    """Ctrl-C on `manage.py serve` closed workers with a heartbeat in flight: dask logged its
    failure with a traceback. A running worker's failure (a lost scheduler) is still logged."""
    from distributed.core import Status

    worker = SimpleNamespace(status=Status(status))
    logger = logging.getLogger("distributed.worker")
    quiet = warmup.ClosingHeartbeats(worker)
    logger.addFilter(quiet)
    try:
        with caplog.at_level(logging.ERROR, logger="distributed.worker"):
            logger.error("Failed to communicate with scheduler during heartbeat.")
            logger.error("another failure")
    finally:
        logger.removeFilter(quiet)
    messages = [r.getMessage() for r in caplog.records]
    assert ("Failed to communicate with scheduler during heartbeat." in messages) is kept
    assert "another failure" in messages
