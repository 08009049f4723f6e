"""Catalogue and job fixtures of the portal tests (a plugin registered by tests/conftest.py),
and the helpers that submit jobs and wait for them.

Users: owner and member share the group "lab"; outsider does not; staff sees everything.
Datasets are small .npy / raw files under a per-test data root, registered through the
catalogue's own service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.core.executor import Executor, InlineExecutor
from apps.datasets.folders import folder_declare
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_register
from apps.jobs import executor as job_executor
from apps.jobs import queue
from apps.jobs.models import Job

NAV = (6, 8)
SIG = (16, 12)
ORIGIN = (b"origin", b"http://127.0.0.1")
NODES = ("node-a", "node-b", "node-c")


async def ws_close_code(ws: Any, timeout: float = 10) -> int | None:
    """Connect ``ws`` (a WebsocketCommunicator): None when the server streams the job (its
    ``status`` comes first; then disconnected), else the code it closed the socket with.

    A refused handshake fails: the server accepts every socket before closing it, because a
    browser only sees the close code of an accepted one.
    """
    connected, _ = await ws.connect(timeout=timeout)
    assert connected, "the handshake was refused: a browser would see 1006, not a close code"
    first = await ws.receive_output(timeout=timeout)
    if first["type"] == "websocket.close":
        return int(first["code"])
    assert json.loads(first["text"])["type"] == "status"
    await ws.disconnect()
    return None


@pytest.fixture
def data_root(db: None, settings: Any, tmp_path: Path) -> Path:
    """The only data root, declared open to every signed-in user."""
    root = tmp_path / "data"
    root.mkdir()
    settings.DATA_ROOTS = [root.resolve()]
    folder_declare(path=str(root), open_to_all=True)
    return root


@pytest.fixture
def nodes(settings: Any, tmp_path: Path, data_root: Path) -> dict[str, Path]:
    """Three storage folders under ``tmp_path/nodes`` stand in for three nodes on one machine.

    After ``data_root``, which may reset ``DATA_NODES``; ingested sidecars go to
    ``tmp_path/ingested``.
    """
    roots = {n: tmp_path / "nodes" / n for n in NODES}
    for root in roots.values():
        root.mkdir(parents=True)
    settings.DATA_NODES = {n: str(r) for n, r in roots.items()}
    settings.INGEST_ROOT = tmp_path / "ingested"
    return roots


def frames(nav: tuple[int, ...] = NAV, sig: tuple[int, int] = SIG, *, seed: int = 0) -> np.ndarray:
    """Reproducible uint16 detector data ``nav + sig``."""
    return np.random.default_rng(seed).integers(0, 1000, size=(*nav, *sig), dtype=np.uint16)


@pytest.fixture
def data() -> np.ndarray:
    return frames()


@pytest.fixture
def dataset(users: SimpleNamespace, data_root: Path, data: np.ndarray) -> Dataset:
    """An .npy dataset of ``alice``, shared with the group "lab"."""
    path = data_root / "scan.npy"
    np.save(path, data)
    return dataset_register(owner=users.owner, name="scan", path=str(path), groups=["lab"])


@pytest.fixture
def other_dataset(users: SimpleNamespace, data_root: Path, data: np.ndarray) -> Dataset:
    """A dataset of ``eve`` that nobody else sees."""
    path = data_root / "private.npy"
    np.save(path, data)
    return dataset_register(owner=users.outsider, name="private", path=str(path))


def raw_dataset(owner: User, root: Path, data: np.ndarray, name: str = "raw") -> Dataset:
    path = root / f"{name}.raw"
    data.tofile(path)
    params = {
        "nav_shape": list(data.shape[:-2]),
        "sig_shape": list(data.shape[-2:]),
        "dtype": data.dtype.str,
    }
    return dataset_register(owner=owner, name=name, path=str(path), format="raw", params=params)


@pytest.fixture
def inline_executor() -> Iterator[Executor]:
    """Jobs compute in the driver's thread (fast, deterministic)."""
    executor = InlineExecutor()
    old = job_executor.set_executor(executor)
    yield executor
    job_executor.set_executor(old)


@pytest.fixture
def thread_runner(settings: Any) -> None:
    # Also on the PostgreSQL + Redis pass, where the default runner is Celery.
    settings.JOB_RUNNER = "thread"


@pytest.fixture
def held_jobs(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Submitted jobs wait until ``release()``: a websocket can join before the job starts."""
    held: list[int] = []
    real = queue.enqueue
    monkeypatch.setattr(queue, "enqueue", held.append)

    def release() -> None:
        for job_id in held:
            real(job_id)
        held.clear()

    return SimpleNamespace(ids=held, release=release)


def wait_terminal(job_id: int, timeout: float = 60.0) -> Job:
    """Poll until job ``job_id`` is finished, failed or cancelled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_terminal:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} is still {Job.objects.get(pk=job_id).status}")


def wait_status(job_id: int, status: str, timeout: float = 30.0, interval: float = 0.01) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status == status:
            return job
        time.sleep(interval)
    raise AssertionError(f"job {job_id} is {Job.objects.get(pk=job_id).status}, not {status}")


def wait_progress(job_id: int, timeout: float = 30.0) -> Job:
    """Poll until job ``job_id`` has recorded some frames done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.frames_done > 0 or job.is_terminal:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} recorded no progress within {timeout} s")


def submit(
    client: Client, dataset: Dataset, analysis: str, params: Any = None, **extra: Any
) -> Any:
    body = {"dataset": dataset.pk, "analysis": analysis, "params": params or {}, **extra}
    return client.post("/api/jobs/", body, content_type="application/json")


def submit_ingest(client: Client, dataset: Dataset, **body: Any) -> Any:
    """POST an ingestion of ``dataset`` (``partitions``, ``replicas``, ``nodes``) to the API."""
    url = f"/api/datasets/{dataset.pk}/ingest/"
    return client.post(url, body, content_type="application/json")
