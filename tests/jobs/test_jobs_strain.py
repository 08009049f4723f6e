"""A strain job through the portal: submitted to the API, finished by the driver, and its
downloads equal the Core's result on the same file."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
from PIL import Image

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.datasets.services import dataset_register
from tests.core.analyses.bragg_frames import SMALL, write_strained_scan
from tests.jobs.support import submit, wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]

NAV = (4, 5)
PARAMS = {
    "reference": "region",
    **SMALL.params(),
    "search": 2.0,
    "ref_y": 0,
    "ref_x": 0,
    "ref_height": NAV[0],
}


def test_a_strain_job_finishes_and_its_downloads_equal_the_core_result(
    users, client_for, data_root, inline_executor
):
    path = data_root / "lattice.npy"
    write_strained_scan(path, SMALL, NAV, dose=300)
    dataset = dataset_register(owner=users.owner, name="lattice", path=str(path))
    client = client_for(users.owner)
    response = submit(client, dataset, "strain", PARAMS)
    assert response.status_code == 202
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error, job.frames_done) == ("finished", "", 20)

    ds = open_dataset(str(path))
    analysis = make_analysis(
        "strain", PARAMS, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    core = InlineExecutor().run(ds, analysis).results
    listed = client.get(f"/api/jobs/{job.pk}/").json()["results"]
    assert [r["name"] for r in listed] == list(analysis.result_names)
    for name, want in core.items():
        body = client.get(f"/api/jobs/{job.pk}/results/{name}.npy")
        assert body.status_code == 200, name
        got = np.load(io.BytesIO(body.content))
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert (core["peaks"] == 9).all() and np.abs(core["exx"]).max() > 1e-3
    for name, unit in (("exx", ""), ("rotation", "deg"), ("a_x", "px")):
        body = client.get(f"/api/jobs/{job.pk}/results/{name}.h5").content
        with h5py.File(io.BytesIO(body)) as f:
            np.testing.assert_array_equal(f[name][()], core[name])
            assert f[name].attrs["units"] == unit
    png = Image.open(io.BytesIO(client.get(f"/api/jobs/{job.pk}/results/rotation.png").content))
    assert png.size == (NAV[1], NAV[0])
    tiff = Image.open(io.BytesIO(client.get(f"/api/jobs/{job.pk}/results/exy.tiff").content))
    np.testing.assert_array_equal(np.array(tiff), core["exy"].astype(np.array(tiff).dtype))
    assert client_for(users.outsider).get(f"/api/jobs/{job.pk}/results/exx.npy").status_code == 404


def test_a_strain_job_with_a_region_outside_the_scan_is_refused(users, client_for, data_root):
    path = data_root / "lattice.npy"
    write_strained_scan(path, SMALL, NAV, dose=300)
    dataset = dataset_register(owner=users.owner, name="lattice", path=str(path))
    response = submit(
        client_for(users.owner), dataset, "strain", {**PARAMS, "ref_x": 4, "ref_width": 2}
    )
    assert response.status_code == 400
    assert "ref_width" in response.json()["fields"]
    assert "inside the scan's 5 columns" in response.json()["error"]
