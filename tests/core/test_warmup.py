"""The worker warm-up keeps a worker's mapped-in file pages below dask's pause threshold."""

from __future__ import annotations

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
