"""``com`` through the portal: a finished com job on a vacuum scan as the ``descan_reference`` of
another (its plane subtracted in the detector frame), the 400s for a reference that cannot be
one, and the guess and descan coefficients downloaded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.datasets.services import dataset_register
from apps.jobs.models import Job
from tests.core.analyses.com_synthetic import CENTRE, phase_and_gradient, plane, spot_frames, turn
from tests.jobs.support import submit, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

GRID = (24, 32)
DESCAN = np.array([[0.6, -0.9], [0.03, 0.01], [-0.02, 0.025]])
DISK = {"cy": CENTRE[0], "cx": CENTRE[1], "r": 14.0}
#: the vacuum job asks for the orientation "auto"... of a field without curl: a fixed one here
TURN = {"flip_y": True, "scan_rotation": -60.0}


def register(owner: User, root, name: str, frames: np.ndarray):
    path = root / f"{name}.npy"
    np.save(path, frames)
    return dataset_register(owner=owner, name=name, path=str(path), groups=["lab"])


def finished(client, dataset, params) -> int:
    response = submit(client, dataset, "com", params)
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    return job.pk


def download(client, job_id: int, name: str) -> np.ndarray:
    response = client.get(f"/api/jobs/{job_id}/results/{name}.npy")
    assert response.status_code == 200, response.content[:200]
    return np.load(io.BytesIO(response.content))


@pytest.fixture
def scans(users, data_root):
    _, gradient = phase_and_gradient(GRID)
    vacuum = spot_frames(turn(plane(DESCAN, GRID), flip_y=True, degrees=-60.0))
    sample = spot_frames(turn(gradient + plane(DESCAN, GRID), flip_y=True, degrees=-60.0))
    return (
        register(users.owner, data_root, "vacuum", vacuum),
        register(users.owner, data_root, "sample", sample),
        gradient,
    )


def test_a_vacuum_job_is_the_descan_reference_of_another(users, client_for, scans) -> None:
    vacuum, sample, gradient = scans
    client = client_for(users.owner)
    reference = finished(client, vacuum, {**DISK, **TURN, "descan": "plane"})
    np.testing.assert_allclose(download(client, reference, "descan"), DESCAN, atol=2e-3)
    # the sample turned as the vacuum was: the reference plane is subtracted as it was fitted
    job = finished(client, sample, {**DISK, **TURN, "descan_reference": reference})
    np.testing.assert_allclose(download(client, job, "descan"), DESCAN, atol=2e-3)
    np.testing.assert_allclose(download(client, job, "y"), gradient[..., 0], atol=3e-3)
    np.testing.assert_allclose(download(client, job, "x"), gradient[..., 1], atol=3e-3)
    guess = download(client, job, "guess")
    assert guess.shape == (4,) and guess[1] == 1.0
    assert abs(guess[0] - (-60.0)) < 0.5


def test_the_reference_plane_is_turned_into_the_new_jobs_frame(users, client_for, scans) -> None:
    vacuum, sample, gradient = scans
    client = client_for(users.owner)
    reference = finished(client, vacuum, {**DISK, "descan": "plane"})  # the detector frame
    job = finished(client, sample, {**DISK, **TURN, "descan_reference": reference})
    np.testing.assert_allclose(download(client, job, "descan"), DESCAN, atol=2e-3)
    np.testing.assert_allclose(download(client, job, "x"), gradient[..., 1], atol=3e-3)


def bad_reference(client, dataset, value) -> dict:
    response = submit(client, dataset, "com", {**DISK, "descan_reference": value})
    assert response.status_code == 400, response.content
    body = response.json()
    assert "descan_reference" in body["fields"], body
    return body


def test_it_refuses_a_reference_that_cannot_be_one(users, client_for, scans, data_root) -> None:
    vacuum, sample, _ = scans
    owner = client_for(users.owner)
    plain = finished(owner, vacuum, DISK)  # descan none: nothing to subtract
    assert "descan plane" in bad_reference(owner, sample, plain)["error"]
    total = submit(owner, vacuum, "sum").json()["id"]
    wait_terminal(total)
    assert "not com" in bad_reference(owner, sample, total)["error"]
    assert "there is no job" in bad_reference(owner, sample, 10**6)["error"]
    assert "id of a finished com job" in bad_reference(owner, sample, "7")["error"]
    deleted = finished(owner, vacuum, {**DISK, "descan": "plane"})
    Job.objects.filter(pk=deleted).update(results_deleted=timezone.now())
    assert "results were deleted" in bad_reference(owner, sample, deleted)["error"]
    small = register(users.owner, data_root, "small", spot_frames(np.zeros((4, 5, 2))))
    other = finished(owner, small, {**DISK, "descan": "plane"})
    assert "same geometry" in bad_reference(owner, sample, other)["error"]


def test_it_refuses_an_unfinished_or_unseen_reference(users, client_for, scans, held_jobs):
    vacuum, sample, _ = scans
    owner = client_for(users.owner)
    waiting = submit(owner, vacuum, "com", {**DISK, "descan": "plane"}).json()["id"]
    assert "queued; it must have finished" in bad_reference(owner, sample, waiting)["error"]
    held_jobs.release()
    wait_terminal(waiting)
    # the member sees the datasets (group "lab") but not the owner's unshared job
    body = bad_reference(client_for(users.member), sample, waiting)
    assert f"there is no job {waiting} you can see" in body["error"]
