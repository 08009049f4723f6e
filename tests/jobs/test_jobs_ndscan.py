"""A 5-d file (a scan of three axes) through the portal: registered with its scan shape,
results and downloads of the full shape, ROIs and picked frames on a slice."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
from PIL import Image

from apps.jobs.roi import roi_array
from apps.results.preview import preview_image
from tests.jobs.support import submit, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

NAV, SIG = (2, 3, 4), (10, 8)
DISK = {"shape": "disk", "cx": 3.5, "cy": 4.0, "r": 3.0}


@pytest.fixture
def cube(data_root):
    data = np.random.default_rng(26).integers(0, 1000, size=(*NAV, *SIG), dtype=np.uint16)
    with h5py.File(data_root / "five.h5", "w") as f:
        f.create_dataset("entry/data", data=data, chunks=(1, 1, 2, *SIG))
    return data


@pytest.fixture
def five(users, client_for, cube):
    body = {"name": "five", "path": "five.h5", "groups": ["lab"]}
    response = client_for(users.owner).post(
        "/api/datasets/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201, response.content[:300]
    return response.json()


def disk_sum(frames: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[: SIG[0], : SIG[1]]
    mask = (yy - DISK["cy"]) ** 2 + (xx - DISK["cx"]) ** 2 <= DISK["r"] ** 2
    return np.einsum("...yx,yx->...", frames.astype(np.float64), mask)


def run(client, dataset_id, analysis, params, **extra):
    body = {"dataset": dataset_id, "analysis": analysis, "params": params, **extra}
    response = client.post("/api/jobs/", body, content_type="application/json")
    assert response.status_code == 202, response.content[:300]
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    return job


def download(client, job, name, fmt):
    response = client.get(f"/api/jobs/{job.pk}/results/{name}.{fmt}")
    assert response.status_code == 200, response.content[:300]
    return response.content


def test_it_registers_a_5d_file_with_its_scan_shape(users, client_for, five):
    assert (five["format"], five["nav_shape"], five["sig_shape"]) == ("hdf5", [2, 3, 4], [10, 8])
    shown = client_for(users.member).get(f"/api/datasets/{five['id']}/").json()
    assert shown["nav_shape"] == [2, 3, 4]


def test_results_and_downloads_have_the_full_scan_shape(users, client_for, five, cube):
    client = client_for(users.owner)
    job = run(client, five["id"], "virtual", DISK)
    want = disk_sum(cube)
    got = np.load(io.BytesIO(download(client, job, "intensity", "npy")))
    assert got.shape == NAV
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with h5py.File(io.BytesIO(download(client, job, "intensity", "h5")), "r") as f:
        np.testing.assert_allclose(f["intensity"][()], want, rtol=1e-6)
        group = f["entry/result"]
        assert list(group.attrs["axes"]) == ["scan_0", "scan_y", "scan_x"]
        for k, (axis, n) in enumerate(zip(group.attrs["axes"], NAV, strict=True)):
            np.testing.assert_array_equal(group[axis][()], np.arange(n))
            assert group.attrs[f"{axis}_indices"] == k
    # the PNG shows the two 3 x 4 slices one under the other
    png = Image.open(io.BytesIO(download(client, job, "intensity", "png")))
    assert png.size == (4, 6)
    thumbnail = Image.open(io.BytesIO(client.get(f"/api/jobs/{job.pk}/thumbnail.png").content))
    assert thumbnail.size == (4, 6)  # the same layout
    response = client.get(f"/api/jobs/{job.pk}/results/intensity.tiff")
    assert response.status_code == 400 and "2-d results" in response.json()["error"]
    # the mean frame (sum) is detector-shaped as ever
    total = np.load(io.BytesIO(download(client, run(client, five["id"], "sum", {}), "sum", "npy")))
    np.testing.assert_allclose(total, cube.reshape(-1, *SIG).sum(axis=0), rtol=1e-6)


def test_a_rect_roi_on_one_slice(users, client_for, five, cube):
    client = client_for(users.owner)
    roi = {"shape": "rect", "y": 1, "x": 1, "height": 2, "width": 2, "slice": 1}
    job = run(client, five["id"], "virtual", DISK, roi=roi)
    assert job.frames_done == 4
    got = np.load(io.BytesIO(download(client, job, "intensity", "npy")))
    inside = np.zeros(NAV, bool)
    inside[1, 1:3, 1:3] = True
    np.testing.assert_array_equal(np.isfinite(got), inside)
    np.testing.assert_allclose(got[inside], disk_sum(cube)[inside], rtol=1e-6)
    roi["slice"] = 2
    response = submit(client, _dataset(five), "virtual", DISK, roi=roi)
    assert response.status_code == 400
    assert "slice" in json.dumps(response.json())


def test_picked_frames_take_the_slice(users, client_for, five, cube):
    client = client_for(users.owner)
    url = f"/api/datasets/{five['id']}/frame/"
    frame = np.load(io.BytesIO(client.get(url, {"slice": 1, "y": 2, "x": 3}).content))
    np.testing.assert_array_equal(frame, cube[1, 2, 3].astype(np.float32))
    frame = np.load(io.BytesIO(client.get(url, {"y": 2, "x": 3}).content))  # slice 0
    np.testing.assert_array_equal(frame, cube[0, 2, 3].astype(np.float32))
    response = client.get(url, {"slice": 2, "y": 2, "x": 3})
    assert response.status_code == 400 and "slice" in response.json()["fields"]
    job = run(client, five["id"], "pick", {"slice": 1, "y": 0, "x": 2})
    np.testing.assert_array_equal(
        np.load(io.BytesIO(download(client, job, "frame", "npy"))), cube[1, 0, 2]
    )
    params = {"shifts": "measured", "cy": 5, "cx": 4, "r": 3}
    response = submit(client, _dataset(five), "parallax", params)
    assert response.status_code == 400
    assert "parallax needs a 1-d or 2-d scan, got the scan shape [2, 3, 4]" in str(response.json())


def _dataset(five):
    from apps.datasets.models import Dataset

    return Dataset.objects.get(pk=five["id"])


def test_rois_on_a_scan_of_three_axes():
    rect = {"shape": "rect", "y": 0, "x": 1, "height": 2, "width": 3}
    every = roi_array(rect, NAV)
    assert every.shape == NAV and every.sum() == 12
    assert every[:, :2, 1:].all()
    one = roi_array({**rect, "slice": 0}, NAV)
    np.testing.assert_array_equal(one, every & (np.arange(2) == 0)[:, None, None])
    disk = roi_array({"shape": "disk", "cy": 1, "cx": 1, "r": 1}, NAV)
    np.testing.assert_array_equal(disk[0], disk[1])
    mask = np.arange(24).reshape(NAV) % 5 == 0
    np.testing.assert_array_equal(roi_array({"mask": mask.tolist()}, NAV), mask)
    with pytest.raises(ValueError, match="slice"):
        roi_array({**rect, "slice": 2}, NAV)
    with pytest.raises(ValueError, match="'slice' is not a key"):
        roi_array({**rect, "slice": 0}, (3, 4))


def test_the_preview_stacks_the_slices():
    values = np.arange(24, dtype=np.float32).reshape(NAV)
    np.testing.assert_array_equal(preview_image(values, NAV), values.reshape(6, 4))
    profile = np.ones((*NAV, 5), np.float32)
    np.testing.assert_array_equal(preview_image(profile, NAV), np.full((6, 4), 5.0))
    frame = np.ones(SIG, np.float32)  # detector-shaped results stay as they are
    assert preview_image(frame, NAV).shape == SIG
