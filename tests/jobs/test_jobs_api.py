"""The jobs JSON API: who may do what, and what bad input gets (nothing is written)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core import ENGINE_VERSION
from apps.core.analyses import declarations
from apps.jobs.models import Job, Mask
from apps.results.models import Result
from apps.results.store import results_save
from tests.jobs.support import SIG, submit


def npy_file(array: np.ndarray, name: str = "mask.npy") -> SimpleUploadedFile:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return SimpleUploadedFile(name, buf.getvalue(), content_type="application/octet-stream")


@pytest.fixture
def job(users, dataset):
    """alice's finished job, shared with those who see the dataset (the member among them)."""
    job = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", status="finished", shared=True
    )
    job.refresh_from_db()
    results_save(job=job, results={"sum": np.ones(SIG)})
    return job


@pytest.fixture
def running_job(users, dataset):
    return Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", status="running", attempt=1, shared=True
    )


def counts() -> tuple[int, int, int]:
    return Job.objects.count(), Mask.objects.count(), Result.objects.count()


# --- access ----------------------------------------------------------------------------------

VISIBLE = [("owner", 200), ("member", 200), ("staff", 200), ("outsider", 404)]


@pytest.mark.parametrize(("who", "status"), VISIBLE)
def test_it_shows_a_job_to_those_who_may_see_it(users, client_for, job, who, status):
    response = client_for(getattr(users, who)).get(f"/api/jobs/{job.pk}/")
    assert response.status_code == status
    if status == 200:
        data = response.json()
        assert data["status"] == "finished"
        assert data["results"][0]["name"] == "sum"
        assert data["results"][0]["shape"] == list(SIG)
        assert data["results"][0]["urls"]["npy"] == f"/api/jobs/{job.pk}/results/sum.npy"
    else:
        assert response.json()["error"]


def test_it_asks_anonymous_users_to_log_in(client_for, job):
    client = client_for(None)
    for url in (f"/api/jobs/{job.pk}/", "/api/jobs/", "/api/analyses/"):
        assert client.get(url).status_code == 401
    assert client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 401
    assert submit(client, job.dataset, "sum").status_code == 401
    assert client.post("/api/masks/", {"dataset": job.dataset_id}).status_code == 401
    assert Job.objects.get(pk=job.pk).status == "finished"


@pytest.mark.parametrize(
    ("who", "seen"), [("owner", 1), ("member", 1), ("staff", 1), ("outsider", 0)]
)
def test_it_lists_visible_jobs_only(users, client_for, job, who, seen):
    response = client_for(getattr(users, who)).get("/api/jobs/")
    assert response.status_code == 200
    assert [j["id"] for j in response.json()["jobs"]] == [job.pk] * seen


def test_it_lists_newest_first_and_filters_by_dataset(
    users, client_for, job, dataset, other_dataset
):
    newer = Job.objects.create(owner=users.owner, dataset=dataset, analysis="pick")
    Job.objects.create(owner=users.outsider, dataset=other_dataset, analysis="sum")
    client = client_for(users.staff)
    ids = [j["id"] for j in client.get(f"/api/jobs/?dataset={dataset.pk}").json()["jobs"]]
    assert ids == [newer.pk, job.pk]
    assert client.get("/api/jobs/?dataset=abc").status_code == 400


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 202), ("member", 202), ("staff", 202), ("outsider", 404)]
)
def test_it_submits_for_those_who_see_the_dataset(users, client_for, dataset, who, status):
    response = submit(
        client_for(getattr(users, who)),
        dataset,
        "virtual",
        {"shape": "disk", "cx": 5, "cy": 7, "r": 3},
    )
    assert response.status_code == status
    if status == 202:
        data = response.json()
        job = Job.objects.get(pk=data["id"])
        assert (job.status, job.owner, job.analysis) == ("queued", getattr(users, who), "virtual")
        assert data["url"] == f"/api/jobs/{job.pk}/"
        assert data["ws"] == f"/ws/jobs/{job.pk}/"
        assert job.frames_total == 48
    else:
        assert Job.objects.count() == 0


def test_it_counts_the_roi_frames_as_the_total(users, client_for, dataset):
    roi = {"shape": "rect", "y": 1, "x": 1, "height": 2, "width": 3}
    response = submit(client_for(users.owner), dataset, "sum", roi=roi)
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.roi, job.frames_total) == (roi, 6)


def test_it_counts_the_frames_of_every_pass_as_the_total(users, client_for, dataset):
    roi = {"shape": "rect", "y": 1, "x": 1, "height": 2, "width": 3}
    params = {"cx": 5, "cy": 7, "ro": 5, "clusters": 2}
    response = submit(client_for(users.owner), dataset, "cluster", params, roi=roi)
    assert response.status_code == 202, response.json()
    assert Job.objects.get(pk=response.json()["id"]).frames_total == 2 * 6  # features, means


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("staff", 200), ("member", 403), ("outsider", 404)]
)
def test_it_lets_only_the_owner_and_staff_cancel(users, client_for, running_job, who, status):
    response = client_for(getattr(users, who)).post(f"/api/jobs/{running_job.pk}/cancel/")
    assert response.status_code == status
    running_job.refresh_from_db()
    assert running_job.cancel_requested is (status == 200)
    assert running_job.status == "running"  # the driver ends it at the next tile


def test_it_cancels_a_queued_job_at_once(users, client_for, dataset):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
    response = client_for(users.owner).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert (job.status, job.error) == ("cancelled", "cancelled")
    assert job.finished is not None


def test_it_answers_409_with_the_state_when_a_finished_job_is_cancelled(users, client_for, job):
    response = client_for(users.owner).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 409
    assert response.json() == {
        "error": f"Job {job.pk} has already finished; there is nothing to cancel.",
        "fields": {"status": "finished"},
    }
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("finished", False)
    assert job.results.count() == 1


@pytest.mark.parametrize(
    ("status", "said"), [("failed", "failed"), ("cancelled", "been cancelled")]
)
def test_it_answers_409_for_every_ended_job(users, client_for, dataset, status, said):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", status=status)
    response = client_for(users.owner).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 409
    assert (
        response.json()["error"] == f"Job {job.pk} has already {said}; there is nothing to cancel."
    )
    assert response.json()["fields"] == {"status": status}


def test_it_describes_the_analyses(users, client_for):
    """The listing is the Core's declarations, as JSON, in menu order."""
    listed = client_for(users.member).get("/api/analyses/").json()["analyses"]
    builtin = {"source": "builtin", "version": ENGINE_VERSION}  # (a plugin's: tests/examples)
    described = [d.as_json() | {"origin": builtin} for d in declarations()]
    assert listed == json.loads(json.dumps(described))
    names = [a["name"] for a in listed]
    assert names[:6] == ["sum", "pick", "virtual", "com", "radial", "masks"]
    com = listed[names.index("com")]
    rotation = next(p for p in com["modes"][0]["params"] if p["name"] == "scan_rotation")
    assert (rotation["unit"], rotation["default"]) == ("deg", 0.0)


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 201), ("member", 201), ("staff", 201), ("outsider", 404)]
)
def test_it_stores_masks_for_visible_datasets(users, client_for, dataset, who, status):
    stack = np.zeros((2, *SIG), dtype=bool)
    stack[0, :4] = True
    response = client_for(getattr(users, who)).post(
        "/api/masks/", {"dataset": dataset.pk, "file": npy_file(stack)}
    )
    assert response.status_code == status
    if status == 201:
        mask = Mask.objects.get(pk=response.json()["id"])
        assert response.json()["shape"] == [2, *SIG]
        assert mask.owner == getattr(users, who)
    else:
        assert Mask.objects.count() == 0


def test_it_takes_a_single_mask_as_a_stack_of_one(users, client_for, dataset):
    response = client_for(users.owner).post(
        "/api/masks/", {"dataset": dataset.pk, "file": npy_file(np.ones(SIG, dtype=np.float32))}
    )
    assert response.status_code == 201
    assert response.json()["shape"] == [1, *SIG]


# --- bad input -------------------------------------------------------------------------------

DISK = {"shape": "disk", "cx": 5, "cy": 7, "r": 3}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"analysis": "sum"}, "dataset"),
        ({"dataset": "DS"}, "analysis"),
        ({"dataset": "DS", "analysis": "nope"}, "analysis"),
        ({"dataset": "DS", "analysis": 3}, "analysis"),
        ({"dataset": "abc", "analysis": "sum"}, "dataset"),
        ({"dataset": True, "analysis": "sum"}, "dataset"),
        ({"dataset": 1.5, "analysis": "sum"}, "dataset"),
        ({"dataset": "DS", "analysis": "sum", "colour": "red"}, "colour"),
        ({"dataset": "DS", "analysis": "virtual", "params": [1, 2]}, "params"),
        ({"dataset": "DS", "analysis": "virtual", "params": {"shape": "disk", "cx": 5}}, "cy"),
        ({"dataset": "DS", "analysis": "virtual", "params": {**DISK, "r": "3"}}, "r"),
        ({"dataset": "DS", "analysis": "virtual", "params": {**DISK, "r": -1}}, "r"),
        ({"dataset": "DS", "analysis": "virtual", "params": {**DISK, "typo": 1}}, "typo"),
        ({"dataset": "DS", "analysis": "pick", "params": {"y": 6, "x": 0}}, "y"),
        (
            {
                "dataset": "DS",
                "analysis": "radial",
                "params": {"cx": 5, "cy": 5, "ri": 0, "ro": 4, "bins": 0},
            },
            "bins",
        ),
        ({"dataset": "DS", "analysis": "masks", "params": {}}, "masks"),
        ({"dataset": "DS", "analysis": "masks", "params": {"masks": "1"}}, "masks"),
        ({"dataset": "DS", "analysis": "masks", "params": {"masks": 999999}}, "masks"),
        (
            {
                "dataset": "DS",
                "analysis": "sum",
                "roi": {"shape": "rect", "y": 0, "x": 0, "height": 7, "width": 1},
            },
            "roi",
        ),
        ({"dataset": "DS", "analysis": "sum", "roi": {"mask": [[True] * 8] * 5}}, "roi"),
        ({"dataset": "DS", "analysis": "sum", "roi": {"shape": "disk", "cy": 1, "cx": 1}}, "roi"),
    ],
)
def test_it_refuses_bad_job_requests(users, client_for, dataset, body, field):
    body = {k: (dataset.pk if v == "DS" else v) for k, v in body.items()}
    before = counts()
    response = client_for(users.owner).post("/api/jobs/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error"]
    assert field in data["fields"], data
    assert counts() == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'{"dataset": 1, "analysis": "virtual", "params": {"shape": "disk", "cx": NaN, "cy": 1, "r": 1}}',
        b'{"dataset": 1, "analysis": "sum", "roi": {"shape": "disk", "cy": Infinity, "cx": 1, "r": 1}}',
        b"\xff\xfe",
    ],
)
def test_it_refuses_malformed_json(users, client_for, dataset, raw):
    before = counts()
    response = client_for(users.owner).post("/api/jobs/", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]
    assert counts() == before


def test_it_refuses_a_mask_id_of_another_user(users, client_for, dataset):
    response = client_for(users.member).post(
        "/api/masks/", {"dataset": dataset.pk, "file": npy_file(np.ones(SIG))}
    )
    mask_id = response.json()["id"]
    before = counts()
    response = submit(client_for(users.owner), dataset, "masks", {"masks": mask_id})
    assert response.status_code == 400
    assert "masks" in response.json()["fields"]
    assert counts() == before


def test_it_refuses_the_dataset_of_another_user(users, client_for, other_dataset):
    before = counts()
    response = submit(client_for(users.owner), other_dataset, "sum")
    assert response.status_code == 404
    response = client_for(users.owner).post(
        "/api/masks/", {"dataset": other_dataset.pk, "file": npy_file(np.ones(SIG))}
    )
    assert response.status_code == 404
    assert counts() == before


def _pickled() -> SimpleUploadedFile:
    return npy_file(np.array([{"a": 1}, None], dtype=object))


@pytest.mark.parametrize(
    ("upload", "field"),
    [
        (lambda: npy_file(np.ones((3, 3))), "file"),
        (lambda: npy_file(np.ones((2, SIG[1], SIG[0]))), "file"),
        (lambda: npy_file(np.ones((1, 1, *SIG))), "file"),
        (lambda: npy_file(np.full(SIG, np.nan)), "file"),
        (lambda: npy_file(np.ones(SIG, dtype=complex)), "file"),
        (lambda: npy_file(np.zeros((0, *SIG))), "file"),
        (_pickled, "file"),
        (lambda: SimpleUploadedFile("mask.npy", b"hello, not numpy"), "file"),
        (lambda: SimpleUploadedFile("mask.npy", b"\x93NUMPY\x01\x00garbage"), "file"),
        (lambda: None, "file"),
    ],
)
def test_it_refuses_bad_mask_uploads(users, client_for, dataset, upload, field):
    before = counts()
    body = {"dataset": dataset.pk}
    if (file := upload()) is not None:
        body["file"] = file
    response = client_for(users.owner).post("/api/masks/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert counts() == before


def test_it_refuses_masks_over_the_size_limit(users, client_for, dataset, settings):
    settings.MAX_MASK_UPLOAD_BYTES = 100
    response = client_for(users.owner).post(
        "/api/masks/", {"dataset": dataset.pk, "file": npy_file(np.ones(SIG))}
    )
    assert response.status_code == 400
    assert "limit" in response.json()["error"]
    assert Mask.objects.count() == 0


def test_it_refuses_a_mask_upload_without_a_dataset(users, client_for):
    response = client_for(users.owner).post("/api/masks/", {"file": npy_file(np.ones(SIG))})
    assert response.status_code == 400
    assert "dataset" in response.json()["fields"]


def test_it_refuses_wrong_methods(users, client_for, job):
    client = client_for(users.owner)
    assert client.delete(f"/api/jobs/{job.pk}/").status_code == 405
    assert client.get(f"/api/jobs/{job.pk}/cancel/").status_code == 405
    assert client.get("/api/masks/").status_code == 405
    assert json.loads(client.put("/api/jobs/").content)["error"]
