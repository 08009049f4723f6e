"""Data locality on a real cluster: a ``dask scheduler`` and three ``dask worker --name node-x``
processes on 127.0.0.1, each node with its own storage folder (the ``nodes`` fixture).

Ingest an HDF5 dataset through the API, then check where every file lies, that ``virtual`` and
``com`` match numpy and ran each partition on the node holding it; replicas survive a stopped
node, a lost unreplicated partition fails the job by name, an interrupted ingestion resumes,
and corruption is found by ``verify`` and by jobs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.core.cluster import worker_names
from apps.core.executor import DaskExecutor
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_register
from apps.jobs import executor as job_executor
from apps.jobs.models import Job
from tests.jobs.support import NODES, submit, submit_ingest, wait_terminal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("thread_runner"),
]

ROOT = Path(__file__).resolve().parent.parent.parent
NAV, SIG = (24, 32), (32, 32)  # 1.5 MiB of uint16
DISK = {"shape": "disk", "cx": 15.5, "cy": 14.0, "r": 9.0}


class Cluster:
    """A scheduler and named single-threaded workers in their own processes (no nanny)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": "0"}
        self.file = tmp / "scheduler.json"
        self.scheduler = self._spawn(
            "scheduler",
            [
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.file),
            ],
            self.env,
            "scheduler",
        )
        deadline = time.monotonic() + 30
        # The scheduler writes its file after creating it: read until it is whole.
        while not (self.file.exists() and self.file.read_text().rstrip().endswith("}")):
            assert time.monotonic() < deadline, "the dask scheduler did not start"
            time.sleep(0.05)
        self.address = json.loads(self.file.read_text())["address"]
        self.workers: dict[str, subprocess.Popen] = {}

    def _spawn(self, kind: str, args: list[str], env: dict, log: str) -> subprocess.Popen:
        out = open(self.tmp / f"{log}.log", "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_" + kind, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def start(self, name: str, *, slow: float = 0.0) -> None:
        env = {**self.env, "LOCALITY_SLOW_WRITES": str(slow)}
        self.workers[name] = self._spawn(
            "worker",
            [
                self.address,
                "--name",
                name,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--memory-limit",
                "1GiB",
                "--preload",
                "tests.e2e.locality_preload",
            ],
            env,
            name,
        )

    def stop(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        job_executor.close_executor()
        c.close()


def connect(cluster: Cluster, names: tuple[str, ...] = NODES) -> DaskExecutor:
    executor = DaskExecutor(cluster.address)
    executor.client.wait_for_workers(len(names), timeout=60)
    old = job_executor.set_executor(executor)
    if old is not None:
        old.close()
    return executor


def wait_gone(executor: DaskExecutor, name: str) -> None:
    deadline = time.monotonic() + 30
    while name in worker_names(executor.client):
        assert time.monotonic() < deadline, f"{name} is still connected"
        time.sleep(0.05)


@pytest.fixture
def executor(cluster: Cluster) -> DaskExecutor:
    """All three nodes started, and jobs computing on them."""
    for n in NODES:
        cluster.start(n)
    return connect(cluster)


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(11)
    return (rng.integers(0, 3000, (*NAV, *SIG)) + np.arange(SIG[1]) * 7).astype("<u2")


def h5_dataset(owner: Any, data_root: Path, data: np.ndarray, name: str) -> Dataset:
    path = data_root / f"{name}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data", data=data, chunks=(1, 4, *SIG))
    return dataset_register(owner=owner, name=name, path=f"{path}:/entry/data")


def ingest(client: Any, dataset: Dataset, **body: Any) -> Job:
    response = submit_ingest(client, dataset, **body)
    assert response.status_code == 202, response.content
    return wait_terminal(response.json()["id"], timeout=60)


def ingested(
    client: Any, owner: Any, data_root: Path, data: np.ndarray, name: str, **body: Any
) -> tuple[Dataset, Job]:
    """A new HDF5 dataset ingested onto the nodes: its row (now ingested) and the finished job."""
    dataset = h5_dataset(owner, data_root, data, name)
    job = ingest(client, dataset, **body)
    assert job.status == "finished", job.error
    dataset.refresh_from_db()
    return dataset, job


def result(client: Any, job: Job, name: str) -> np.ndarray:
    return np.load(io.BytesIO(client.get(f"/api/jobs/{job.pk}/results/{name}.npy").content))


def reference_virtual(data: np.ndarray) -> np.ndarray:
    yy, xx = np.indices(SIG)
    disk = (yy - DISK["cy"]) ** 2 + (xx - DISK["cx"]) ** 2 <= DISK["r"] ** 2
    return np.einsum("abij,ij->ab", data.astype(np.float64), disk.astype(np.float64))


def reference_com(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.indices(SIG).astype(np.float64)
    disk = ((yy - DISK["cy"]) ** 2 + (xx - DISK["cx"]) ** 2 <= DISK["r"] ** 2).astype(np.float64)
    weighted = data.astype(np.float64) * disk
    total = weighted.sum(axis=(2, 3))
    y = np.einsum("abij,ij->ab", weighted, yy) / total - DISK["cy"]
    x = np.einsum("abij,ij->ab", weighted, xx) / total - DISK["cx"]
    return x, y


def holders(dataset: Dataset) -> dict[int, list[str]]:
    return {p["index"]: p["nodes"] for p in dataset.partitions}


def test_it_ingests_onto_the_nodes_and_computes_where_the_data_is(
    users: SimpleNamespace,
    client_for: Any,
    data_root: Path,
    data: np.ndarray,
    nodes: dict[str, Path],
    cluster: Cluster,
    executor: DaskExecutor,
) -> None:
    client = client_for(users.owner)
    dataset, job = ingested(client, users.owner, data_root, data, "scan", partitions=6)
    assert dataset.status == "ready"
    sidecar = json.loads(Path(dataset.path).read_text())
    assert [p["nodes"] for p in sidecar["partitions"]] == [[NODES[i % 3]] for i in range(6)]
    assert holders(dataset) == {i: p["nodes"] for i, p in enumerate(sidecar["partitions"])}
    assert {(r["index"], r["worker"]) for r in job.partitions} == {
        (i, NODES[i % 3]) for i in range(6)
    }
    for p in sidecar["partitions"]:
        for n in NODES:
            assert (nodes[n] / p["path"]).exists() == (n in p["nodes"])
    flat = data.reshape(-1, *SIG)
    raw = (nodes["node-b"] / sidecar["partitions"][1]["path"]).read_bytes()
    assert (
        raw == flat[sidecar["partitions"][1]["start"] : sidecar["partitions"][1]["stop"]].tobytes()
    )

    virtual = wait_terminal(submit(client, dataset, "virtual", DISK).json()["id"])
    com = wait_terminal(
        submit(client, dataset, "com", {"cx": DISK["cx"], "cy": DISK["cy"], "r": DISK["r"]}).json()[
            "id"
        ]
    )
    for done in (virtual, com):
        assert done.status == "finished", done.error
        ran = {r["index"]: r["worker"] for r in done.partitions}
        assert ran == {i: nodes_[0] for i, nodes_ in holders(dataset).items()}
        api = client.get(f"/api/jobs/{done.pk}/").json()["partitions"]
        assert all(p["worker"] in NODES and p["gbs"] is not None for p in api)
    np.testing.assert_allclose(
        result(client, virtual, "intensity"), reference_virtual(data), rtol=1e-5
    )
    x, y = reference_com(data)
    np.testing.assert_allclose(result(client, com, "x"), x, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(result(client, com, "y"), y, rtol=1e-5, atol=1e-4)

    # Corruption: verify (pinned to the nodes) names it, and a job fails naming it.
    target = nodes["node-c"] / sidecar["partitions"][5]["path"]
    damaged = bytearray(target.read_bytes())
    damaged[1000] ^= 0x40
    target.write_bytes(bytes(damaged))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 partition copies of scan are not intact"):
        call_command("verify", str(dataset.pk), stdout=out)
    assert "partition 5 on node-c: corrupt" in out.getvalue()
    # (the same job again would be answered from the cache, by the intact copies' result:
    # the node copies are the ingestion's, checked by their recorded hashes, not stat-ed)
    failed = wait_terminal(submit(client, dataset, "virtual", DISK, reuse=False).json()["id"])
    assert failed.status == "failed"
    assert "partition 5 (frames" in failed.error and "on node node-c is corrupt" in failed.error

    # A stopped node: its unreplicated partitions fail the job by name, never read elsewhere.
    cluster.stop("node-b")
    wait_gone(executor, "node-b")
    lost = wait_terminal(submit(client, dataset, "sum").json()["id"])
    assert lost.status == "failed"
    assert "partition 1 (frames" in lost.error and "node(s) node-b, and none" in lost.error


def test_replicas_keep_jobs_running_when_a_node_stops(
    users: SimpleNamespace,
    client_for: Any,
    data_root: Path,
    data: np.ndarray,
    nodes: dict[str, Path],
    cluster: Cluster,
    executor: DaskExecutor,
) -> None:
    client = client_for(users.owner)
    dataset, _ = ingested(client, users.owner, data_root, data, "twice", partitions=6, replicas=2)
    assert holders(dataset) == {i: [NODES[i % 3], NODES[(i + 1) % 3]] for i in range(6)}
    cluster.stop("node-a")
    wait_gone(executor, "node-a")
    done = wait_terminal(submit(client, dataset, "virtual", DISK).json()["id"])
    assert done.status == "finished", done.error
    ran = {r["index"]: r["worker"] for r in done.partitions}
    assert all(ran[i] in holders(dataset)[i] and ran[i] != "node-a" for i in range(6))
    np.testing.assert_allclose(
        result(client, done, "intensity"), reference_virtual(data), rtol=1e-5
    )


def test_an_interrupted_ingestion_leaves_no_sidecar_and_a_rerun_reuses_finished_partitions(
    users: SimpleNamespace,
    client_for: Any,
    data_root: Path,
    data: np.ndarray,
    nodes: dict[str, Path],
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    cluster.start("node-a")
    cluster.start("node-b")
    cluster.start("node-c", slow=30)
    connect(cluster)
    client = client_for(users.owner)
    dataset = h5_dataset(users.owner, data_root, data, "halfway")
    job_id = submit_ingest(client, dataset, partitions=6).json()["id"]
    # node-a and node-b finish their four partitions; node-c is still writing its first
    deadline = time.monotonic() + 30
    while (
        len(
            list(nodes["node-a"].rglob("*.raw.sha256"))
            + list(nodes["node-b"].rglob("*.raw.sha256"))
        )
        < 4
    ):
        assert time.monotonic() < deadline, "node-a and node-b did not write their partitions"
        time.sleep(0.05)
    assert Dataset.objects.get(pk=dataset.pk).status == "ingesting"
    cluster.stop("node-c")
    job = wait_terminal(job_id, timeout=30)
    assert job.status == "failed" and "node node-c" in job.error
    dataset.refresh_from_db()
    assert dataset.status == "error" and dataset.format == "hdf5"
    assert not list((tmp_path / "ingested").glob("*.json"))
    assert not list(nodes["node-c"].rglob("*.raw"))
    before = {
        p: p.stat().st_mtime_ns for n in ("node-a", "node-b") for p in nodes[n].rglob("*.raw")
    }
    assert len(before) == 4

    cluster.start("node-c")
    connect(cluster)
    again = ingest(client, dataset, partitions=6)
    assert again.status == "finished", again.error
    assert sorted(r["index"] for r in again.partitions if r["written"]) == [2, 5]
    assert {p: p.stat().st_mtime_ns for p in before} == before
    dataset.refresh_from_db()
    assert dataset.status == "ready"
    done = wait_terminal(submit(client, dataset, "virtual", DISK).json()["id"])
    np.testing.assert_allclose(
        result(client, done, "intensity"), reference_virtual(data), rtol=1e-5
    )


def test_copies_follow_their_dataset_on_the_nodes(
    users: SimpleNamespace,
    client_for: Any,
    data_root: Path,
    data: np.ndarray,
    nodes: dict[str, Path],
    cluster: Cluster,
    executor: DaskExecutor,
) -> None:
    def files(node: str) -> list[str]:
        return sorted(
            str(p.relative_to(nodes[node])) for p in nodes[node].rglob("*") if p.is_file()
        )

    client = client_for(users.owner)
    dataset, _ = ingested(client, users.owner, data_root, data, "moving", partitions=6)
    # Ingested again on two nodes, by free space (measured by a task on each node).
    again = ingest(
        client, dataset, partitions=4, nodes=["node-a", "node-c"], placement="free-space"
    )
    assert again.status == "finished", again.error
    dataset.refresh_from_db()
    assert {n for nodes_ in holders(dataset).values() for n in nodes_} == {"node-a", "node-c"}

    def folders() -> set[str]:
        return {f.split("/")[0] for n in ("node-a", "node-b", "node-c") for f in files(n)}

    # the old layout's copies go just after the finish, on every node (node-a and node-c keep
    # only the new layout's folder)
    deadline = time.monotonic() + 30
    while folders() != {Path(dataset.path).stem}:
        assert time.monotonic() < deadline, f"the nodes still hold {sorted(folders())}"
        time.sleep(0.05)
    assert not files("node-b")
    np.testing.assert_allclose(
        result(
            client,
            wait_terminal(submit(client, dataset, "virtual", DISK).json()["id"]),
            "intensity",
        ),
        reference_virtual(data),
        rtol=1e-5,
    )

    # Deleted while node-c is down: node-a's copies go, node-c's are named.
    cluster.stop("node-c")
    wait_gone(executor, "node-c")
    kept = files("node-c")
    reply = client.delete(f"/api/datasets/{dataset.pk}/")
    assert reply.status_code == 200
    lines = reply.json()["not_removed"]
    assert len(lines) == len(kept) // 2  # a partition file and its .sha256 each
    assert all(
        " on node node-c: node node-c is not a running dask worker" in line for line in lines
    )
    assert files("node-a") == [] and files("node-c") == kept
    assert not Path(dataset.path).exists()
