"""The Python client's tests run it against a real portal (tests/live_portal.py): Daphne,
websockets and jobs on a local dask cluster, with the demo dataset registered by alice."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from libertem_portal_client import Portal

from tests.live_portal import Portal as LivePortal
from tests.live_portal import running_portal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    # one running job per user: a second one waits, so that a queued job can be cancelled
    env = {"MAX_RUNNING_JOBS_PER_USER": "1"}
    with running_portal(tmp_path_factory.mktemp("client-portal"), env=env) as live:
        yield live


@pytest.fixture(scope="package")
def dataset(live: LivePortal) -> dict[str, Any]:
    """The demo (64 × 64 scan of 128 × 128 frames), registered by alice."""
    path = str(live.data / "demo" / "demo.json")
    return live.api("alice", "/api/datasets/", {"name": "demo scan", "path": path})


@pytest.fixture(scope="package")
def frames(live: LivePortal) -> np.ndarray:
    """The demo's frames, (4096, 128 × 128) float64, read with numpy alone."""
    raw = np.memmap(live.data / "demo" / "demo.raw", dtype="<u2", mode="r")
    return raw.reshape(64 * 64, 128 * 128).astype(np.float64)


@pytest.fixture
def alice(live: LivePortal) -> Portal:
    return Portal(live.base, live.tokens["alice"], progress=False)


@pytest.fixture
def bob(live: LivePortal) -> Portal:
    return Portal(live.base, live.tokens["bob"], progress=False)


@pytest.fixture(scope="package")
def lab(live: LivePortal) -> dict[str, Portal]:
    """carol and dave, both in the group ``lab`` (their tokens also in ``live.tokens``)."""
    users = {}
    for name in ("carol", "dave"):
        token = live.manage("createuser", name, "--groups", "lab").strip().splitlines()[-1]
        live.tokens[name] = token
        users[name] = Portal(live.base, token, progress=False)
    return users


@contextmanager
def stopped_workers(live: LivePortal) -> Iterator[None]:
    """The portal's dask worker processes stopped (SIGSTOP) while the block runs: its jobs
    start and then make no progress until the block ends."""
    serve = psutil.Process(live.pid)
    workers = [p for p in serve.children() if "spawn_main" in " ".join(p.cmdline())]
    assert workers, "the portal's local dask cluster has no worker processes"
    for worker in workers:
        os.kill(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for worker in workers:
            os.kill(worker.pid, signal.SIGCONT)


def demo_path(live: LivePortal) -> Path:
    return live.data / "demo" / "demo.json"


def demo_copy(live: LivePortal, name: str) -> Path:
    """The demo's sidecar in a folder of its own, its frames a hard link (no copy of 128 MiB):
    a file no other dataset is registered from."""
    folder = live.data / name
    folder.mkdir()
    shutil.copy(demo_path(live), folder)
    os.link(live.data / "demo" / "demo.raw", folder / "demo.raw")
    return folder / "demo.json"
