"""Limits with a clear 400/429 in the JSON error format: partitions per dataset, queued jobs per
user, ingestion partitions (issue 19 point 5)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from apps.datasets.models import Dataset
from apps.jobs.models import Job
from tests.jobs.support import submit, submit_ingest, wait_terminal

pytestmark = pytest.mark.django_db(transaction=True)


def write_sidecar(folder, data: np.ndarray, n_parts: int):
    """A libertem-raw sidecar with ``n_parts`` partition files of whole frames."""
    frames = data.reshape(-1, *data.shape[-2:])
    edges = np.linspace(0, len(frames), n_parts + 1).astype(int)
    parts = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        (folder / f"part-{i}.raw").write_bytes(frames[lo:hi].tobytes())
        parts.append({"path": f"part-{i}.raw", "start": int(lo), "stop": int(hi)})
    doc = {
        "format": "libertem-raw",
        "version": 1,
        "dtype": data.dtype.str,
        "nav_shape": list(data.shape[:-2]),
        "sig_shape": list(data.shape[-2:]),
        "partitions": parts,
    }
    path = folder / "scan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def register(client, path):
    body = {"name": "parts", "path": str(path)}
    return client.post("/api/datasets/", body, content_type="application/json")


def test_it_refuses_a_sidecar_with_more_partitions_than_the_limit(
    users, client_for, data_root, data, settings
):
    settings.MAX_PARTITIONS_PER_DATASET = 5
    path = write_sidecar(data_root, data, n_parts=6)
    client = client_for(users.owner)
    response = register(client, path)
    assert response.status_code == 400
    error = response.json()
    assert error["fields"]["path"] == (
        f"{path}: the data is split into 6 partitions; this portal takes at most 5 per dataset "
        "(MAX_PARTITIONS_PER_DATASET). Write a sidecar with fewer, larger partitions."
    )
    assert not Dataset.objects.filter(name="parts").exists()

    write_sidecar(data_root, data, n_parts=5)
    response = register(client, path)
    assert response.status_code == 201, response.content
    assert len(response.json()["partitions"]) == 5


@pytest.mark.usefixtures("inline_executor", "thread_runner")
def test_a_job_fails_on_a_sidecar_rewritten_with_more_partitions(
    users, client_for, data_root, data, settings, tmp_path
):
    settings.MAX_PARTITIONS_PER_DATASET = 5
    path = write_sidecar(data_root, data, n_parts=5)
    client = client_for(users.owner)
    response = register(client, path)
    assert response.status_code == 201, response.content
    row = Dataset.objects.get(pk=response.json()["id"])
    ok = wait_terminal(submit(client, row, "sum").json()["id"])
    assert ok.status == Job.Status.FINISHED, ok.error

    write_sidecar(data_root, data, n_parts=6)  # same frames, one partition file more
    reason = (
        f"Dataset 'parts' (id {row.pk}): {path}: the data is split into 6 partitions; this portal "
        "takes at most 5 per dataset (MAX_PARTITIONS_PER_DATASET). Write a sidecar with fewer, "
        "larger partitions."
    )
    job = wait_terminal(submit(client, row, "sum").json()["id"])
    assert (job.status, job.error) == (Job.Status.FAILED, reason)
    assert not job.results.exists()
    settings.DATA_NODES = {"node-a": str(tmp_path / "node-a")}
    settings.INGEST_ROOT = tmp_path / "ingested"
    ingest = submit_ingest(client, row)
    assert ingest.status_code == 202, ingest.content
    job = wait_terminal(ingest.json()["id"])
    assert (job.status, job.error) == (Job.Status.FAILED, reason)
    assert not (tmp_path / "ingested").exists() or not any((tmp_path / "ingested").iterdir())


def test_the_register_page_shows_the_partition_limit(users, client_for, data_root, data, settings):
    settings.MAX_PARTITIONS_PER_DATASET = 2
    path = write_sidecar(data_root, data, n_parts=3)
    page = client_for(users.owner).get("/datasets/register/", {"path": str(path)})
    assert page.status_code == 200
    assert "split into 3 partitions" in page.content.decode()


@pytest.fixture
def queue_limit(settings):
    settings.MAX_QUEUED_JOBS_PER_USER = 2
    return 2


def test_it_refuses_a_job_over_the_queued_limit_with_429(
    users, client_for, dataset, held_jobs, queue_limit
):
    owner = client_for(users.owner)
    first = [submit(owner, dataset, "sum").json()["id"] for _ in range(queue_limit)]
    response = submit(owner, dataset, "sum")
    assert response.status_code == 429
    assert response.json() == {
        "error": "You have 2 jobs waiting, the most this portal queues per user "
        "(MAX_QUEUED_JOBS_PER_USER); wait for some to start, or cancel some.",
        "fields": {},
    }
    rerun = owner.post(f"/api/jobs/{first[0]}/rerun/")
    assert rerun.status_code == 429 and "MAX_QUEUED_JOBS_PER_USER" in rerun.json()["error"]
    assert Job.objects.filter(owner=users.owner).count() == 2  # nothing was saved

    # Another user's queue is their own; a cancelled job frees a place.
    assert submit(client_for(users.member), dataset, "sum").status_code == 202
    assert owner.post(f"/api/jobs/{first[0]}/cancel/").status_code == 200
    assert submit(owner, dataset, "sum").status_code == 202


def test_the_rerun_button_says_the_queue_is_full(
    users, client_for, dataset, held_jobs, queue_limit
):
    owner = client_for(users.owner)
    ids = [submit(owner, dataset, "sum").json()["id"] for _ in range(queue_limit)]
    page = owner.post(f"/jobs/{ids[0]}/rerun/", follow=True)
    assert page.status_code == 200
    assert "MAX_QUEUED_JOBS_PER_USER" in page.content.decode()
    assert Job.objects.count() == queue_limit


@pytest.mark.parametrize(
    ("partitions", "message"),
    [
        (6, "must be between 1 and 5 (MAX_PARTITIONS_PER_DATASET), got 6."),
        ("9" * 5000, "must be between 1 and 5 (MAX_PARTITIONS_PER_DATASET), got 999999"),
        (0, "must be between 1 and 5 (MAX_PARTITIONS_PER_DATASET), got 0."),
    ],
)
def test_ingestion_takes_at_most_the_partition_limit(
    users, client_for, dataset, settings, tmp_path, partitions, message
):
    settings.MAX_PARTITIONS_PER_DATASET = 5
    settings.DATA_NODES = {"node-a": str(tmp_path)}
    response = client_for(users.owner).post(
        f"/api/datasets/{dataset.pk}/ingest/",
        {"partitions": partitions},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["partitions"].startswith(message)
