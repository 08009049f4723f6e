"""The analyses beyond masks through the portal: POST /api/jobs/, the job finishes, and the
downloads equal independent float64 references."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
from PIL import Image

from tests.core.analyses.numpy_reference import (
    cluster_reference,
    fem_reference,
    radial_fourier_reference,
)
from tests.jobs.support import submit, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]


def download(client, job_id: int, name: str, fmt: str) -> bytes:
    response = client.get(f"/api/jobs/{job_id}/results/{name}.{fmt}")
    assert response.status_code == 200, response.content[:200]
    return response.content


def test_radial_fourier_downloads_equal_the_reference(users, client_for, dataset, data):
    client = client_for(users.owner)
    params = {"cx": 5.5, "cy": 7.25, "ri": 1.0, "ro": 6.5, "bins": 2, "max_order": 4}
    response = submit(client, dataset, "radial_fourier", params)
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    want = radial_fourier_reference(data, None, **params)
    got = np.load(io.BytesIO(download(client, job.pk, "coefficients", "npy")))
    assert got.dtype == np.complex64 and got.shape == (6, 8, 2, 5)
    scale = np.abs(want["coefficients"]).max()
    assert np.abs(got - want["coefficients"]).max() <= 1e-5 * scale
    with h5py.File(io.BytesIO(download(client, job.pk, "relative", "h5")), "r") as f:
        np.testing.assert_allclose(f["relative"][()], want["relative"], atol=1e-5)
    dominant = np.load(io.BytesIO(download(client, job.pk, "dominant", "npy")))
    np.testing.assert_array_equal(dominant, want["dominant"])
    png = Image.open(io.BytesIO(download(client, job.pk, "coefficients", "png")))
    assert png.size == (8, 6)  # the magnitudes summed over bins and orders, one pixel a frame


def test_stddev_downloads_equal_numpy(users, client_for, dataset, data):
    client = client_for(users.owner)
    roi = {"shape": "rect", "y": 1, "x": 2, "height": 4, "width": 5}
    response = submit(client, dataset, "stddev", {}, roi=roi)
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error, job.frames_done) == ("finished", "", 20)
    frames = data[1:5, 2:7].reshape(20, *data.shape[2:]).astype(np.float64)
    for name, want in (("std", frames.std(0)), ("var", frames.var(0)), ("mean", frames.mean(0))):
        got = np.load(io.BytesIO(download(client, job.pk, name, "npy")))
        assert got.dtype == np.float64 and got.shape == data.shape[2:]
        np.testing.assert_allclose(got, want, rtol=1e-12)
    with h5py.File(io.BytesIO(download(client, job.pk, "var", "h5")), "r") as f:
        np.testing.assert_allclose(f["var"][()], frames.var(0), rtol=1e-12)
        assert list(f["entry/result"].attrs["axes"]) == ["detector_y", "detector_x"]


def test_fem_downloads_equal_numpy_and_its_profile_is_one_dimensional(
    users, client_for, dataset, data
):
    client = client_for(users.owner)
    params = {"cx": 5.5, "cy": 7.25, "ri": 1.0, "ro": 6.5, "bins": 4}
    response = submit(client, dataset, "fem", params)
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    want = fem_reference(data, None, **params)
    listed = {r["name"]: r for r in client.get(f"/api/jobs/{job.pk}/").json()["results"]}
    assert listed["variance"]["shape"] == [4] and listed["std"]["shape"] == [6, 8]
    std = np.load(io.BytesIO(download(client, job.pk, "std", "npy")))
    np.testing.assert_allclose(std, want["std"], rtol=1e-12)
    variance = np.load(io.BytesIO(download(client, job.pk, "variance", "npy")))
    assert variance.shape == (4,)
    np.testing.assert_allclose(variance, want["variance"], rtol=1e-10)
    with h5py.File(io.BytesIO(download(client, job.pk, "variance", "h5")), "r") as f:
        np.testing.assert_allclose(f["variance"][()], want["variance"], rtol=1e-10)
        group = f["entry/result"]
        assert list(group.attrs["axes"]) == ["radius"]
        np.testing.assert_allclose(group["radius"][()], [1.6875, 3.0625, 4.4375, 5.8125])
    png = Image.open(io.BytesIO(download(client, job.pk, "variance", "png")))
    assert png.size == (4, 1)  # one row, a pixel a bin
    tiff = client.get(f"/api/jobs/{job.pk}/results/variance.tiff")
    assert tiff.status_code == 400 and "2-d results" in tiff.json()["error"]
    # the job's page and its thumbnail (the preview, the std map) take the 1-d results too
    page = client.get(f"/jobs/{job.pk}/")
    assert page.status_code == 200 and b"variance" in page.content
    thumbnail = Image.open(io.BytesIO(client.get(f"/api/jobs/{job.pk}/thumbnail.png").content))
    assert thumbnail.size == (8, 6)


def test_cluster_downloads_equal_the_reference_and_count_both_passes(
    users, client_for, dataset, data
):
    client = client_for(users.owner)
    params = {"cx": 5.5, "cy": 7.25, "ro": 6.5, "bins": 2, "max_order": 4, "clusters": 3}
    roi = {"shape": "rect", "y": 0, "x": 1, "height": 5, "width": 6}
    response = submit(client, dataset, "cluster", params, roi=roi)
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    # the 30 frames of the ROI, read in two passes
    assert (job.status, job.error, job.frames_done, job.frames_total) == ("finished", "", 60, 60)
    inside = np.zeros((6, 8), dtype=bool)
    inside[0:5, 1:7] = True
    want = cluster_reference(data, inside, **params)
    labels = np.load(io.BytesIO(download(client, job.pk, "labels", "npy")))
    np.testing.assert_array_equal(labels, want["labels"])
    means = np.load(io.BytesIO(download(client, job.pk, "means", "npy")))
    assert means.shape == (16, 12, 3)
    np.testing.assert_allclose(means, want["means"], rtol=1e-12)
    with h5py.File(io.BytesIO(download(client, job.pk, "features", "h5")), "r") as f:
        np.testing.assert_allclose(f["features"][()], want["features"], atol=1e-5)
