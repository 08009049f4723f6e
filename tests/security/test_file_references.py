"""The attack suite of issue 19, point 1: files inside a data folder that point outside it.

Each planted file (tests/security/attacks.py) names a secret next to the data folder. For each:

* without the check the planted file really reads the secret (so the attack is real);
* registration refuses it with a 400 naming the file and the link;
* a catalogue row made directly (registered before the fix, or the file replaced afterwards)
  is refused by every read path: the frame endpoint, every analysis (pick included) and their
  downloads, ingestion, and manage.py verify;
* the secret's marker never appears in any response body, job record or command output.
"""

from __future__ import annotations

import io
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.core.analyses import ANALYSES as CORE_ANALYSES
from apps.datasets.models import Dataset
from apps.jobs.models import Job
from apps.results.models import Result
from tests.jobs.support import submit, wait_terminal
from tests.security.attacks import BUILDERS, MARKER, Attack, Places, leaked

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

ANALYSES: dict[str, dict[str, Any]] = {
    "sum": {},
    "pick": {"y": 0, "x": 0},
    "virtual": {"shape": "disk", "cx": 4, "cy": 4, "r": 2},
    "com": {"cx": 4, "cy": 4, "r": 3},
    "radial": {"cx": 4, "cy": 4, "ri": 0, "ro": 4, "bins": 2},
    "masks": {},  # the uploaded mask's id is filled in
    "std": {},
    "stddev": {},
    "strain": {
        "reference": "median",
        "cx": 4,
        "cy": 4,
        "ay": 0,
        "ax": 2,
        "by": 2,
        "bx": 0,
        "r": 0.5,
        "search": 0.5,
    },
    "radial_fourier": {"cx": 4, "cy": 4, "ro": 4, "bins": 2, "max_order": 3},
    "fem": {"cx": 4, "cy": 4, "ri": 1, "ro": 4, "bins": 2},
    "cluster": {"cx": 4, "cy": 4, "ro": 4, "bins": 2, "max_order": 3, "clusters": 2},
    "parallax": {"shifts": "measured", "cx": 4, "cy": 4, "r": 2},
    "ssb": {
        "beam_energy": 300.0,
        "convergence_angle": 4.0,
        "detector_pixel": 2.0,
        "scan_step": 0.05,
        "cx": 4,
        "cy": 4,
    },
}


def test_every_declared_analysis_is_attacked() -> None:
    assert list(ANALYSES) == list(CORE_ANALYSES)


@pytest.fixture(params=sorted(BUILDERS))
def attack(request: pytest.FixtureRequest, places: Places) -> Attack:
    return BUILDERS[request.param](places)


def planted_row(owner: Any, attack: Attack) -> Dataset:
    """The catalogue row the planted file would have had if registered before the check."""
    return Dataset.objects.create(
        owner=owner,
        name=attack.name,
        format=attack.format,
        path=str(attack.path),
        params=attack.params,
        nav_shape=list(attack.nav_shape),
        sig_shape=list(attack.sig_shape),
        dtype=attack.dtype,
    )


def assert_refused(message: str, attack: Attack) -> None:
    assert str(attack.named) in message, message
    for word in attack.words:
        assert word in message, f"{word!r} missing from: {message}"
    assert not leaked(message)


def test_the_planted_file_reads_the_secret_without_the_check(attack: Attack) -> None:
    assert MARKER in attack.unchecked()


def test_registration_refuses_it_naming_the_file_and_the_link(
    users: SimpleNamespace, client_for: Any, attack: Attack
) -> None:
    body = {"name": "x", "path": str(attack.path), "params": attack.params}
    if attack.format != "arina":
        body["format"] = attack.format
    response = client_for(users.owner).post("/api/datasets/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not leaked(response.content)
    data = response.json()
    assert set(data["fields"]) == {attack.field}
    assert_refused(data["fields"][attack.field], attack)
    assert Dataset.objects.count() == 0


# Detection on the register page takes a path only (an HDF5 dataset as file.h5:/inner).
@pytest.mark.parametrize(
    "attack", [n for n in sorted(BUILDERS) if n != "correction-map-symlink"], indirect=True
)
def test_the_register_page_shows_the_refusal(
    users: SimpleNamespace, client_for: Any, attack: Attack
) -> None:
    inner = attack.params.get("dataset")
    path = f"{attack.path}:{inner}" if inner else str(attack.path)
    response = client_for(users.owner).get("/datasets/register/", {"path": path})
    assert response.status_code == 200
    assert_refused(response.context["detected"]["error"], attack)
    assert not leaked(response.content)


def test_the_frame_endpoint_refuses_it(
    users: SimpleNamespace, client_for: Any, attack: Attack
) -> None:
    row = planted_row(users.owner, attack)
    response = client_for(users.owner).get(f"/api/datasets/{row.pk}/frame/", {"y": 0, "x": 0})
    assert response.status_code == 400, response.content
    assert not leaked(response.content)
    assert_refused(response.json()["error"], attack)


def upload_mask(client: Any, row: Dataset) -> int:
    buf = io.BytesIO()
    np.save(buf, np.ones((2, *row.sig_shape), dtype=np.float32))
    buf.seek(0)
    buf.name = "masks.npy"
    response = client.post("/api/masks/", {"dataset": row.pk, "file": buf})
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def test_every_analysis_fails_and_nothing_can_be_downloaded(
    users: SimpleNamespace, client_for: Any, attack: Attack
) -> None:
    row = planted_row(users.owner, attack)
    client = client_for(users.owner)
    for analysis, params in ANALYSES.items():
        if analysis == "masks":
            params = {"masks": upload_mask(client, row)}
        response = submit(client, row, analysis, params)
        assert response.status_code == 202, response.content
        job = wait_terminal(response.json()["id"])
        assert job.status == Job.Status.FAILED, (analysis, job.error)
        assert_refused(job.error, attack)
        shown = client.get(f"/api/jobs/{job.pk}/")
        assert shown.json()["results"] == [] and not leaked(shown.content)
        page = client.get(f"/jobs/{job.pk}/")
        assert page.status_code == 200 and not leaked(page.content)
        for name in ("sum", "frame", "intensity", "x", "profile", "masks"):
            download = client.get(f"/api/jobs/{job.pk}/results/{name}.npy")
            assert download.status_code == 404 and not leaked(download.content)
    assert Result.objects.count() == 0


def test_ingestion_fails_and_writes_nothing(
    users: SimpleNamespace, client_for: Any, attack: Attack, places: Places
) -> None:
    row = planted_row(users.owner, attack)
    response = client_for(users.owner).post(
        f"/api/datasets/{row.pk}/ingest/", {}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    job = wait_terminal(response.json()["id"])
    assert job.status == Job.Status.FAILED
    assert_refused(job.error, attack)
    row.refresh_from_db()
    assert row.status == Dataset.Status.ERROR and not leaked(row.error)
    written = [p for p in places.nodes.rglob("*") if p.is_file()]
    assert not any(MARKER in p.read_bytes() for p in written)


def test_verify_refuses_a_user_written_sidecar(
    users: SimpleNamespace, attack: Attack, places: Places
) -> None:
    row = planted_row(users.owner, attack)
    out = StringIO()
    with pytest.raises(CommandError, match="is not ingested") as refused:
        call_command("verify", str(row.pk), stdout=out)
    assert not leaked(str(refused.value)) and not leaked(out.getvalue())


# --- node storage: a symlink in a node's storage root, under a sidecar written by ingestion ---


@pytest.fixture
def ingested_row(users: SimpleNamespace, places: Places, settings: Any) -> Dataset:
    """An ingested dataset whose partition file in node storage was replaced by a symlink out."""
    from apps.core.io.raw import write_sidecar

    folder = places.nodes / "node-a" / "ds-1-abc"
    folder.mkdir()
    (folder / "part-00000.raw").symlink_to(places.outside / "secret-part.raw")
    sidecar = Path(settings.INGEST_ROOT) / "ds-1-abc.json"
    sidecar.parent.mkdir(parents=True)
    doc = {
        "dtype": "|u1",
        "nav_shape": [2, 2],
        "sig_shape": [8, 8],
        "node_roots": {"node-a": "/anything/the/file/says"},
        "partitions": [
            {"path": "ds-1-abc/part-00000.raw", "start": 0, "stop": 4, "nodes": ["node-a"]}
        ],
    }
    write_sidecar(sidecar, doc)
    return Dataset.objects.create(
        owner=users.owner,
        name="ingested",
        format="raw",
        path=str(sidecar.resolve()),
        params={},
        nav_shape=[2, 2],
        sig_shape=[8, 8],
        dtype="|u1",
    )


def test_a_node_storage_symlink_out_is_refused_by_reads_and_verify(
    users: SimpleNamespace, client_for: Any, ingested_row: Dataset
) -> None:
    client = client_for(users.owner)
    frame = client.get(f"/api/datasets/{ingested_row.pk}/frame/", {"y": 0, "x": 0})
    assert frame.status_code == 400 and not leaked(frame.content)
    assert "outside the node's storage root" in frame.json()["error"]
    job = wait_terminal(submit(client, ingested_row, "sum").json()["id"])
    assert job.status == Job.Status.FAILED
    assert "ds-1-abc/part-00000.raw" in job.error and "outside the node's storage root" in job.error
    out = StringIO()
    with pytest.raises(CommandError, match="1 partition copies"):
        call_command("verify", str(ingested_row.pk), stdout=out)
    assert "partition 0 on node-a: outside" in out.getvalue() and not leaked(out.getvalue())


def test_node_roots_come_from_the_server_not_the_sidecar(
    users: SimpleNamespace, client_for: Any, ingested_row: Dataset, places: Places
) -> None:
    # The same sidecar with an intact partition reads from DATA_NODES' root, whatever its
    # "node_roots" say.
    part = places.nodes / "node-a" / "ds-1-abc" / "part-00000.raw"
    part.unlink()
    part.write_bytes(np.arange(256, dtype=np.uint8).tobytes())
    frame = client_for(users.owner).get(f"/api/datasets/{ingested_row.pk}/frame/", {"y": 0, "x": 1})
    assert frame.status_code == 200
    values = np.load(io.BytesIO(frame.content))
    np.testing.assert_array_equal(values, np.arange(64, 128).reshape(8, 8))


# --- a file replaced after registration ----------------------------------------------------


def test_a_replaced_file_fails_the_job_with_a_reason(
    users: SimpleNamespace, client_for: Any, places: Places
) -> None:
    path = places.data / "scan.npy"
    np.save(path, np.ones((2, 2, 8, 8), dtype=np.uint16))
    client = client_for(users.owner)
    created = client.post(
        "/api/datasets/", {"name": "scan", "path": str(path)}, content_type="application/json"
    )
    assert created.status_code == 201
    row = Dataset.objects.get(pk=created.json()["id"])
    np.save(path, np.ones((2, 2, 8, 8), dtype=np.float32))  # same shape, another dtype
    job = wait_terminal(submit(client, row, "sum").json()["id"])
    assert job.status == Job.Status.FAILED
    assert "changed since it was registered" in job.error
    assert "dtype <f4" in job.error and "dtype <u2" in job.error
    np.save(path, np.ones((3, 2, 8, 8), dtype=np.uint16))  # another shape
    frame = client.get(f"/api/datasets/{row.pk}/frame/", {"y": 0, "x": 0})
    assert frame.status_code == 400
    assert "nav_shape [3, 2]" in frame.json()["error"]


# --- a link to a file behind someone else's dataset ----------------------------------------


def test_a_link_to_a_file_behind_a_dataset_one_may_not_see_is_refused(
    users: SimpleNamespace, client_for: Any, places: Places
) -> None:
    with h5py.File(places.data / "private.h5", "w") as f:
        f["data"] = np.full((2, 2, 8, 8), 3, dtype=np.uint8)
    alice = client_for(users.owner).post(
        "/api/datasets/",
        {"name": "mine", "path": str(places.data / "private.h5")},
        content_type="application/json",
    )
    assert alice.status_code == 201
    with h5py.File(places.data / "eve.h5", "w") as f:
        f["scan"] = h5py.ExternalLink("private.h5", "/data")
    eve = client_for(users.outsider).post(
        "/api/datasets/",
        {"name": "hers", "path": f"{places.data / 'eve.h5'}:/scan"},
        content_type="application/json",
    )
    assert eve.status_code == 400
    message = eve.json()["fields"]["path"]
    assert "eve.h5 (or a file it refers to) already backs a dataset you may not see" in message
    assert Dataset.objects.filter(owner=users.outsider).count() == 0
