"""The scheduler's list of workers, asked while the client refreshes its own cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from apps.core import cluster
from apps.core.executor import DaskExecutor


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(n_workers=2, cluster_kwargs={"memory_limit": "1GiB"})
    executor.client.wait_for_workers(2, timeout=60)
    yield executor
    executor.close()


def test_the_workers_are_all_there_while_the_client_refreshes_its_cache(
    dask_executor: DaskExecutor,
) -> None:
    # The client's periodic refresh stores an identity without workers; a cluster of two must
    # still read as two however the questions and the refreshes interleave.
    client: Any = dask_executor.client
    stop = threading.Event()

    def refresh() -> None:
        while not stop.is_set():
            client.sync(client._update_scheduler_info)

    thread = threading.Thread(target=refresh, daemon=True)
    thread.start()
    try:
        counts = [len(cluster.worker_names(client)) for _ in range(300)]
    finally:
        stop.set()
        thread.join(10)
    assert set(counts) == {2}


def test_the_identity_names_each_worker_with_its_threads(dask_executor: DaskExecutor) -> None:
    workers = cluster.scheduler_identity(dask_executor.client)["workers"]
    assert len(workers) == 2
    assert all(address.startswith(("tcp://", "inproc://")) for address in workers)
    assert all(info["nthreads"] >= 1 for info in workers.values())
    assert set(cluster.worker_names(dask_executor.client).values()) == set(workers)
