"""Ingested copies follow their dataset: deleting it removes its partition files on the nodes,
it can be ingested again with another layout, and the free-space placement is offered.

Three node folders under tmp_path stand in for three nodes on one machine (``nodes``); jobs
run in a thread with the inline executor, so the node tasks run in this process. ``dataset``
is tests/datasets/conftest.py's: alice's 4 x 5 scan of 8 x 8 frames in ``scan.npy``.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from apps.core.ingest_nodes import free_bytes
from apps.datasets.models import Dataset
from apps.jobs.kinds import ingest as ingest_kind
from apps.jobs.models import Job
from tests.jobs.support import submit, submit_ingest, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def settled(condition: Any, what: str, seconds: float = 10) -> None:
    """Wait for ``condition``: an old layout's copies go just after the job's finish commits."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def ingested(client: Any, dataset: Dataset, **body: Any) -> Dataset:
    reply = submit_ingest(client, dataset, **body)
    assert reply.status_code == 202, reply.content
    job = wait_terminal(reply.json()["id"])
    assert job.status == "finished", job.error
    dataset.refresh_from_db()
    return dataset


def test_deleting_an_ingested_dataset_removes_its_files_on_every_node(
    users: SimpleNamespace, client_for: Any, dataset: Dataset, nodes: dict
) -> None:
    client = client_for(users.owner)
    ds = ingested(client, dataset, partitions=3, replicas=2)
    sidecar = Path(ds.path)
    held = {n: files_under(root) for n, root in nodes.items()}
    assert sum(len(f) for f in held.values()) == 3 * 2 * 2  # each copy and its .sha256
    reply = client.delete(f"/api/datasets/{ds.pk}/")
    assert reply.status_code == 204
    assert {n: files_under(root) for n, root in nodes.items()} == {n: [] for n in nodes}
    assert [p for root in nodes.values() for p in root.iterdir()] == []  # folders too
    assert not sidecar.exists()
    assert not Dataset.objects.filter(pk=ds.pk).exists()


def test_it_says_which_copies_could_not_be_removed(
    users: SimpleNamespace, client_for: Any, dataset: Dataset, nodes: dict, settings: Any
) -> None:
    client = client_for(users.owner)
    ds = ingested(client, dataset, partitions=3)
    rel = ds.partitions[1]["path"]
    assert ds.partitions[1]["nodes"] == ["node-b"]
    # node-b was taken out of the configuration: its storage cannot be reached any more
    settings.DATA_NODES = {n: str(r) for n, r in nodes.items() if n != "node-b"}
    reply = client.delete(f"/api/datasets/{ds.pk}/")
    assert reply.status_code == 200
    assert reply.json() == {
        "not_removed": [f"{rel} on node node-b: the node is not in DATA_NODES any more"]
    }
    assert files_under(nodes["node-a"]) == files_under(nodes["node-c"]) == []
    assert files_under(nodes["node-b"]) == [rel, rel + ".sha256"]


def test_the_page_says_the_copies_went_and_the_source_stays(
    users: SimpleNamespace, client_for: Any, dataset: Dataset, nodes: dict, data_root: Path
) -> None:
    client = client_for(users.owner)
    ds = ingested(client, dataset, partitions=2)
    page = client.post(f"/datasets/{ds.pk}/delete/", follow=True).content.decode()
    assert "and its ingested copies from the data nodes (the source files are kept)" in page
    assert all(files_under(root) == [] for root in nodes.values())
    assert not Path(ds.path).exists()
    assert files_under(data_root) == ["scan.npy"]


def test_it_ingests_again_with_another_layout_and_removes_the_old_copies(
    users: SimpleNamespace, client_for: Any, dataset: Dataset, nodes: dict, npy_file: Path
) -> None:
    data = np.load(npy_file)
    client = client_for(users.owner)
    ds = ingested(client, dataset, partitions=3)
    first = Path(ds.path)
    page = client.get(f"/datasets/{ds.pk}/").content.decode()
    assert "Ingest again with another layout" in page
    ds = ingested(client, ds, partitions=2, nodes=["node-c"])
    assert [p["nodes"] for p in ds.partitions] == [["node-c"], ["node-c"]]
    settled(lambda: not first.exists(), "the old sidecar to go")
    assert files_under(nodes["node-a"]) == files_under(nodes["node-b"]) == []
    assert sorted(files_under(nodes["node-c"])) == sorted(
        f for p in ds.partitions for f in (p["path"], p["path"] + ".sha256")
    )
    assert not first.exists() and Path(ds.path).exists()
    assert json.loads(Path(ds.path).read_text())["source"]["path"].endswith("scan.npy")
    job = wait_terminal(submit(client, ds, "sum").json()["id"])
    assert job.status == "finished", job.error
    got = np.load(io.BytesIO(client.get(f"/api/jobs/{job.pk}/results/sum.npy").content))
    np.testing.assert_allclose(got, data.reshape(-1, *data.shape[-2:]).sum(axis=0), rtol=1e-5)


def test_the_same_layout_again_keeps_every_copy(
    users: SimpleNamespace, client_for: Any, dataset: Dataset, nodes: dict
) -> None:
    client = client_for(users.owner)
    ds = ingested(client, dataset, partitions=3)
    before = {n: files_under(root) for n, root in nodes.items()}
    ds = ingested(client, ds, partitions=3)
    assert {n: files_under(root) for n, root in nodes.items()} == before
    last = Job.objects.filter(kind="ingest").order_by("-pk").first()
    assert [p["written"] for p in last.partitions] == [False, False, False]
    assert Path(ds.path).exists()


def test_free_bytes_is_what_the_file_system_says(tmp_path: Path) -> None:
    measured = free_bytes("node-a", str(tmp_path / "not" / "yet"))
    assert abs(measured - shutil.disk_usage(tmp_path).free) < 64 * 2**20
    with pytest.raises(Exception, match="measures local storage roots only"):
        free_bytes("node-c", "hdfs://namenode:8020/data")


def test_free_space_placement_puts_partitions_where_the_space_is(
    users: SimpleNamespace,
    client_for: Any,
    dataset: Dataset,
    nodes: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The node folders share one disk here; give each node its own amount of free space.
    space = {"node-a": 0, "node-b": 10**9, "node-c": 10**9 + 1}
    monkeypatch.setattr(ingest_kind, "free_bytes", lambda node, root: space[node])
    ds = ingested(client_for(users.owner), dataset, partitions=4, placement="free-space")
    # equal partitions: c (most free), then b and c alternate; a (full) gets none
    assert [p["nodes"] for p in ds.partitions] == [["node-c"], ["node-b"], ["node-c"], ["node-b"]]
    job = Job.objects.get(kind="ingest")
    assert job.params["placement"] == "free-space"


def test_it_refuses_an_unknown_placement(
    users: SimpleNamespace, client_for: Any, dataset: Dataset, nodes: dict
) -> None:
    reply = submit_ingest(client_for(users.owner), dataset, placement="fastest")
    assert reply.status_code == 400
    assert reply.json()["fields"] == {
        "placement": "must be one of round-robin, free-space, got 'fastest'."
    }
    assert not Job.objects.exists()
