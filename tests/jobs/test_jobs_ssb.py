"""SSB through the portal: the beam and the pixel sizes come from the dataset's calibration, the
job records them, the downloads equal the float64 definition, and a parameter neither given nor
calibrated is a 400 naming it."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest

from apps.datasets.services import dataset_calibrate
from tests.core.analyses.numpy_reference import ssb_reference
from tests.jobs.support import submit, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

CALIBRATION = {
    "scan_step": 0.5,
    "scan_units": "Å",
    "detector_step": 1.25,
    "detector_units": "mrad",
    "beam_energy": 200,
    "convergence_angle": 5.0,
}


def test_ssb_takes_the_beam_and_pixel_sizes_from_the_calibration(users, client_for, dataset, data):
    dataset_calibrate(user=users.owner, dataset=dataset, **CALIBRATION)
    client = client_for(users.owner)
    response = submit(client, dataset, "ssb", {"cx": 5.6, "cy": 7.3, "scan_rotation": 10.0})
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    # the job records the values it ran with, in the parameters' units
    assert job.params == {
        "cx": 5.6,
        "cy": 7.3,
        "scan_rotation": 10.0,
        "beam_energy": 200.0,
        "convergence_angle": 5.0,
        "detector_pixel": 1.25,
        "scan_step": pytest.approx(0.05),
    }
    assert client.get(f"/api/jobs/{job.pk}/").json()["params"]["beam_energy"] == 200.0
    want = ssb_reference(data, None, **job.params)
    phase = np.load(io.BytesIO(client.get(f"/api/jobs/{job.pk}/results/phase.npy").content))
    assert phase.dtype == np.float64 and phase.shape == data.shape[:2]
    np.testing.assert_allclose(phase, want["phase"], rtol=0, atol=1e-5)
    raw = client.get(f"/api/jobs/{job.pk}/results/complex.npy").content
    complex_ = np.load(io.BytesIO(raw))
    assert complex_.dtype == np.complex64
    scale = np.abs(want["complex"]).max()
    np.testing.assert_allclose(complex_, want["complex"], rtol=0, atol=1e-5 * scale)
    h5 = client.get(f"/api/jobs/{job.pk}/results/amplitude.h5").content
    with h5py.File(io.BytesIO(h5), "r") as f:
        np.testing.assert_allclose(f["amplitude"][()], want["amplitude"], rtol=1e-5)


def test_a_value_given_wins_over_the_calibration(users, client_for, dataset):
    dataset_calibrate(user=users.owner, dataset=dataset, **CALIBRATION)
    response = submit(
        client_for(users.owner), dataset, "ssb", {"cx": 5.5, "cy": 7.5, "beam_energy": 300}
    )
    assert response.status_code == 202, response.json()
    job = wait_terminal(response.json()["id"])
    assert job.status == "finished" and job.params["beam_energy"] == 300


def test_without_a_calibration_the_400_names_the_parameter(users, client_for, dataset):
    client = client_for(users.owner)
    response = submit(client, dataset, "ssb", {"cx": 5.5, "cy": 7.5})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert (
        "give the beam energy in keV, or type it into the dataset's calibration"
        in (fields["beam_energy"])
    )
    # the scan step typed in, the beam still missing: the next parameter is named
    dataset_calibrate(user=users.owner, dataset=dataset, beam_energy=300, convergence_angle=5)
    response = submit(client, dataset, "ssb", {"cx": 5.5, "cy": 7.5})
    assert response.status_code == 400
    assert "detector pixel size in mrad" in response.json()["fields"]["detector_pixel"]
