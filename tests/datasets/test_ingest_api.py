"""Ingestion through the API, the dataset page and manage.py (jobs in a thread, inline executor).

Three node folders under tmp_path stand in for three nodes on one machine (``nodes``).
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_register
from apps.jobs.models import Job
from tests.jobs.support import NODES, submit, submit_ingest, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

NAV, SIG = (6, 8), (12, 10)


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 900, (*NAV, *SIG)).astype("<u2")


@pytest.fixture
def h5_dataset(users: SimpleNamespace, data_root: Path, data: np.ndarray) -> Dataset:
    path = data_root / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data", data=data, chunks=(1, 2, *SIG))
    return dataset_register(
        owner=users.owner, name="scan", path=f"{path}:/entry/data", groups=["lab"]
    )


def test_it_ingests_and_then_analyses_the_ingested_copy(
    users: SimpleNamespace, client_for: Any, h5_dataset: Dataset, nodes: dict, data: np.ndarray
) -> None:
    client = client_for(users.owner)
    response = submit_ingest(client, h5_dataset, partitions=6, replicas=2)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["ws"] == f"/ws/jobs/{body['id']}/"
    job = wait_terminal(body["id"])
    assert job.status == "finished", job.error
    assert (job.kind, job.analysis) == ("ingest", "")
    assert job.frames_done == 2 * data.shape[0] * data.shape[1]
    assert sorted((p["index"], p["worker"]) for p in job.partitions) == sorted(
        (i, NODES[(i + k) % 3]) for i in range(6) for k in range(2)
    )
    h5_dataset.refresh_from_db()
    assert h5_dataset.status == "ready" and h5_dataset.format == "raw"
    assert Path(h5_dataset.path).parent == Path(h5_dataset.path).parent.resolve()
    sidecar = json.loads(Path(h5_dataset.path).read_text())
    assert [p["nodes"] for p in h5_dataset.partitions] == [
        p["nodes"] for p in sidecar["partitions"]
    ]
    assert sidecar["source"]["format"] == "hdf5"
    detail = client.get(f"/api/datasets/{h5_dataset.pk}/").json()
    assert detail["partitions"][0]["nodes"] == ["node-a", "node-b"]
    done = wait_terminal(submit(client, h5_dataset, "sum").json()["id"])
    assert done.status == "finished", done.error
    expected = data.reshape(-1, *SIG).sum(axis=0)
    result = client.get(f"/api/jobs/{done.pk}/results/sum.npy")
    got = np.load(__import__("io").BytesIO(result.content))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "node-b" in page


def test_it_refuses_without_nodes_and_for_others(
    users: SimpleNamespace, client_for: Any, h5_dataset: Dataset, settings: Any
) -> None:
    settings.DATA_NODES = {}
    response = submit_ingest(client_for(users.owner), h5_dataset)
    assert response.status_code == 400 and "DATA_NODES" in response.json()["error"]
    settings.DATA_NODES = {"node-a": "/tmp/nowhere"}
    assert submit_ingest(client_for(users.outsider), h5_dataset).status_code == 404
    assert submit_ingest(client_for(users.member), h5_dataset).status_code == 403
    bad = submit_ingest(client_for(users.owner), h5_dataset, nodes=["node-z"], replicas=1)
    assert bad.status_code == 400 and bad.json()["fields"] == {
        "nodes": "unknown node(s) node-z; DATA_NODES has node-a."
    }
    assert submit_ingest(client_for(users.owner), h5_dataset, replicas=2).json()["fields"][
        "replicas"
    ]
    assert not Job.objects.exists()


def test_the_dataset_page_has_an_ingest_button_for_the_owner(
    users: SimpleNamespace, client_for: Any, h5_dataset: Dataset, nodes: dict
) -> None:
    page = client_for(users.owner).get(f"/datasets/{h5_dataset.pk}/").content.decode()
    assert f'action="/datasets/{h5_dataset.pk}/ingest/"' in page and 'value="node-c"' in page
    member_page = client_for(users.member).get(f"/datasets/{h5_dataset.pk}/").content.decode()
    assert "/ingest/" not in member_page
    response = client_for(users.owner).post(
        f"/datasets/{h5_dataset.pk}/ingest/", {"partitions": "3", "nodes": ["node-b"]}
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert wait_terminal(job.pk).status == "finished"
    assert {n for p in Dataset.objects.get().partitions for n in p["nodes"]} == {"node-b"}


def test_manage_ingest_and_verify(users: SimpleNamespace, h5_dataset: Dataset, nodes: dict) -> None:
    out = StringIO()
    call_command(
        "ingest", str(h5_dataset.pk), "--partitions", "4", "--nodes", "node-a,node-c", stdout=out
    )
    line = json.loads(out.getvalue())
    assert line["status"] == "finished" and line["written"] == [
        [0, "node-a"],
        [1, "node-c"],
        [2, "node-a"],
        [3, "node-c"],
    ]
    out = StringIO()
    call_command("verify", "scan", stdout=out)
    assert "4 of 4 copies ok" in out.getvalue()
    h5_dataset.refresh_from_db()
    part = h5_dataset.partitions[1]
    path = nodes["node-c"] / part["path"]
    raw = bytearray(path.read_bytes())
    raw[7] ^= 1
    path.write_bytes(bytes(raw))
    out = StringIO()
    with pytest.raises(CommandError, match="1 partition copies of scan are not intact"):
        call_command("verify", "scan", stdout=out)
    assert "partition 1 on node-c: corrupt (sha256" in out.getvalue()


def test_a_failed_ingestion_leaves_no_sidecar_and_a_rerun_finishes_it(
    users: SimpleNamespace,
    client_for: Any,
    h5_dataset: Dataset,
    nodes: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.core import ingest as core_ingest

    real = core_ingest.write_partition
    calls: list[int] = []

    def flaky(source: Any, copy: Any, root: str) -> Any:
        calls.append(copy.index)
        if copy.index == 4 and len(calls) <= 6:
            raise OSError(28, "No space left on device")
        return real(source, copy, root)

    monkeypatch.setattr(core_ingest, "write_partition", flaky)
    client = client_for(users.owner)
    job = wait_terminal(submit_ingest(client, h5_dataset, partitions=6).json()["id"])
    assert job.status == "failed"
    assert "partition 4 on node node-b: cannot write" in job.error
    h5_dataset.refresh_from_db()
    assert h5_dataset.status == "error" and h5_dataset.format == "hdf5"
    assert not list(Path(h5_dataset.path.split(":")[0]).parent.glob("*.json"))
    assert not (nodes["node-a"].parent.parent / "ingested").exists() or not list(
        (nodes["node-a"].parent.parent / "ingested").glob("*.json")
    )
    again = wait_terminal(submit_ingest(client, h5_dataset, partitions=6).json()["id"])
    assert again.status == "finished", again.error
    assert sorted(p["index"] for p in again.partitions if p["written"]) == [4, 5]
    h5_dataset.refresh_from_db()
    assert h5_dataset.status == "ready"
