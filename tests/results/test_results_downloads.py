"""Result downloads in every format, and who may fetch them."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from apps.jobs.models import Job
from apps.results.colormap import LUT, colorize
from apps.results.store import partial_latest, partial_save, result_array, results_save

INTENSITY = np.arange(48, dtype=np.float32).reshape(6, 8)
PROFILE = np.arange(6 * 8 * 3, dtype=np.float32).reshape(6, 8, 3)


@pytest.fixture
def job(users, dataset):
    """alice's finished job, shared with those who see the dataset (the member among them)."""
    job = Job.objects.create(
        owner=users.owner,
        dataset=dataset,
        analysis="virtual",
        params={"shape": "disk", "cx": 5, "cy": 7, "r": 3},
        status="finished",
        shared=True,
    )
    results_save(job=job, results={"intensity": INTENSITY, "profile": PROFILE})
    return job


def url(job, name, fmt):
    return f"/api/jobs/{job.pk}/results/{name}.{fmt}"


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("member", 200), ("staff", 200), ("outsider", 404)]
)
@pytest.mark.parametrize("fmt", ["npy", "h5", "tiff", "png"])
def test_it_serves_results_to_those_who_see_the_job(users, client_for, job, who, status, fmt):
    response = client_for(getattr(users, who)).get(url(job, "intensity", fmt))
    assert response.status_code == status


def test_it_asks_anonymous_users_to_log_in(client_for, job):
    assert client_for(None).get(url(job, "intensity", "npy")).status_code == 401


def test_it_serves_npy_equal_to_the_result(users, client_for, job):
    response = client_for(users.owner).get(url(job, "intensity", "npy"))
    assert 'filename="job-' in response["Content-Disposition"]
    np.testing.assert_array_equal(np.load(io.BytesIO(response.content)), INTENSITY)


def test_it_serves_h5_with_provenance(users, client_for, job, dataset):
    response = client_for(users.owner).get(url(job, "intensity", "h5"))
    assert response["Content-Type"] == "application/x-hdf5"
    with h5py.File(io.BytesIO(response.content), "r") as f:
        np.testing.assert_array_equal(f["intensity"][()], INTENSITY)
        attrs = f["intensity"].attrs
        assert attrs["analysis"] == "virtual"
        assert json.loads(attrs["params"]) == {"shape": "disk", "cx": 5, "cy": 7, "r": 3}
        described = json.loads(attrs["dataset"])
        assert (described["name"], described["nav_shape"]) == ("scan", [6, 8])


def test_it_serves_float32_tiff_for_2d_results(users, client_for, job):
    response = client_for(users.owner).get(url(job, "intensity", "tiff"))
    image = tifffile.imread(io.BytesIO(response.content))
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, INTENSITY)


def test_it_refuses_tiff_for_3d_results(users, client_for, job):
    response = client_for(users.owner).get(url(job, "profile", "tiff"))
    assert response.status_code == 400
    assert "2-d" in response.json()["error"]


@pytest.mark.parametrize(("name", "size"), [("intensity", (8, 6)), ("profile", (8, 6))])
def test_it_serves_a_png_of_the_right_size(users, client_for, job, name, size):
    response = client_for(users.owner).get(url(job, name, "png"))
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    assert image.size == size
    pixels = np.asarray(image)
    assert tuple(pixels[0, 0, :3]) == tuple(LUT[0])  # the minimum
    assert tuple(pixels[-1, -1, :3]) == tuple(LUT[255])  # the maximum


def test_it_makes_nan_transparent():
    rgba = colorize(np.array([[np.nan, 1.0], [2.0, np.inf]]))
    assert list(rgba[..., 3].ravel()) == [0, 255, 255, 0]
    assert colorize(np.full((2, 2), np.nan))[..., 3].max() == 0


def test_it_answers_404_for_unknown_results(users, client_for, job):
    client = client_for(users.owner)
    assert client.get(url(job, "nothing", "npy")).status_code == 404
    assert client.get(f"/api/jobs/{job.pk}/results/intensity.exe").status_code == 404
    assert client.get("/api/jobs/999999/results/intensity.npy").status_code == 404


def test_a_partial_is_replaced_in_one_statement(job, django_assert_num_queries):
    partial_save(job=job, name="intensity", array=np.zeros((6, 8), np.float32))
    with django_assert_num_queries(1):
        partial_save(job=job, name="intensity", array=np.full((2, 3), 5, np.float32))
    row = job.results.get(partial=True)
    assert (row.shape, row.nbytes) == ([2, 3], 24)
    np.testing.assert_array_equal(result_array(row), np.full((2, 3), 5, np.float32))


def test_it_serves_the_latest_partial(users, client_for, job):
    partial_save(job=job, name="intensity", array=np.zeros((6, 8), np.float32))
    partial_save(job=job, name="intensity", array=np.ones((6, 8), np.float32))
    assert partial_latest(job).name == "intensity"
    assert job.results.filter(partial=True).count() == 1
    response = client_for(users.member).get(f"/api/jobs/{job.pk}/partial/intensity.npy")
    np.testing.assert_array_equal(np.load(io.BytesIO(response.content)), np.ones((6, 8)))
    assert (
        client_for(users.outsider).get(f"/api/jobs/{job.pk}/partial/intensity.npy").status_code
        == 404
    )
    # the final results are untouched by partial previews
    np.testing.assert_array_equal(
        result_array(job.results.get(name="intensity", partial=False)), INTENSITY
    )
