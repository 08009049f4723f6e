"""The beam energy and convergence semi-angle: typed once on the dataset page (or through the
calibration API), kept with the dataset, and offered to the analyses as calibrated values."""

from __future__ import annotations

import json

import pytest

from apps.core.optics import electron_wavelength
from apps.datasets.models import Dataset

pytestmark = pytest.mark.django_db

GOOD = {"scan_step": 0.05, "scan_units": "nm", "detector_step": 0.5, "detector_units": "mrad"}


def post_api(client, dataset, values):
    return client.post(
        f"/api/datasets/{dataset.pk}/calibration/",
        json.dumps(values),
        content_type="application/json",
    )


def test_it_keeps_the_beam_typed_on_the_page(users, dataset, client_for):
    client = client_for(users.owner)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "energy not known; convergence semi-angle not known" in page
    data = {**GOOD, "beam_energy": "300", "convergence_angle": "21.5"}
    assert client.post(f"/datasets/{dataset.pk}/calibration/", data).status_code == 302
    row = Dataset.objects.get()
    assert (row.beam_energy, row.convergence_angle) == (300.0, 21.5)
    page = client.get(f"/datasets/{dataset.pk}/")
    assert "300 keV; convergence semi-angle 21.5 mrad" in page.content.decode()
    form = page.context["calibration_form"]
    assert (form["beam_energy"].value(), form["convergence_angle"].value()) == (300.0, 21.5)
    body = client.get(f"/api/datasets/{dataset.pk}/").json()
    assert (body["beam_energy"], body["convergence_angle"]) == (300.0, 21.5)
    assert body["calibrated"] == {
        "beam_energy": 300.0,
        "convergence_angle": 21.5,
        "scan_step": pytest.approx(0.05),
        "detector_pixel": pytest.approx(0.5),
    }
    # an empty value means not known again
    client.post(f"/datasets/{dataset.pk}/calibration/", {**data, "beam_energy": ""})
    assert Dataset.objects.get().beam_energy is None


def test_the_api_stores_what_the_page_stores(users, dataset, client_for):
    response = post_api(
        client_for(users.owner), dataset, {**GOOD, "beam_energy": 200, "convergence_angle": 25}
    )
    assert response.status_code == 200
    assert (response.json()["beam_energy"], response.json()["convergence_angle"]) == (200.0, 25.0)
    row = Dataset.objects.get()
    assert (row.beam_energy, row.convergence_angle) == (200.0, 25.0)


def test_a_detector_in_inverse_nanometres_is_given_in_mrad_through_the_wavelength(
    users, dataset, client_for
):
    client = client_for(users.owner)
    values = {**GOOD, "detector_step": 0.2, "detector_units": "1/nm"}
    without_beam = post_api(client, dataset, values).json()["calibrated"]
    assert "detector_pixel" not in without_beam and "beam_energy" not in without_beam
    calibrated = post_api(client, dataset, {**values, "beam_energy": 300}).json()["calibrated"]
    # 300 keV: 1.9687 pm; an angle is the wavelength times the spatial frequency
    assert electron_wavelength(300) == pytest.approx(1.96875e-3, rel=1e-5)
    assert calibrated["detector_pixel"] == pytest.approx(0.2 * 1.96875e-3 * 1e3, rel=1e-5)


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"beam_energy": -300}, "beam_energy", "The beam energy must be a positive number of keV"),
        ({"beam_energy": 0}, "beam_energy", "positive number of keV up to 10000, got 0"),
        ({"beam_energy": "300 kV"}, "beam_energy", "The beam energy must be a number of keV"),
        ({"convergence_angle": 2000}, "convergence_angle", "up to 1000, got 2000"),
        ({"convergence_angle": True}, "convergence_angle", "must be a number of mrad, got True"),
    ],
)
def test_it_refuses_a_bad_beam_naming_the_field(users, dataset, client_for, values, field, text):
    client = client_for(users.owner)
    response = post_api(client, dataset, {**GOOD, **values})
    assert response.status_code == 400
    assert text in response.json()["fields"][field]
    row = Dataset.objects.get()
    assert row.calibration == [] and row.beam_energy is None and row.convergence_angle is None


def test_the_page_names_the_field_of_a_bad_beam(users, dataset, client_for):
    page = client_for(users.owner).post(
        f"/datasets/{dataset.pk}/calibration/", {**GOOD, "convergence_angle": "-3"}
    )
    assert page.status_code == 200
    errors = page.context["calibration_form"]["convergence_angle"].errors
    assert "The convergence semi-angle must be a positive number of mrad" in " ".join(errors)
    assert Dataset.objects.get().convergence_angle is None


def test_only_the_owner_and_staff_set_the_beam(users, dataset, client_for):
    values = {"beam_energy": 300, "convergence_angle": 20}
    assert post_api(client_for(users.member), dataset, values).status_code == 403
    assert post_api(client_for(users.outsider), dataset, values).status_code == 404
    assert Dataset.objects.get().beam_energy is None
    assert post_api(client_for(users.staff), dataset, values).status_code == 200
    assert Dataset.objects.get().beam_energy == 300.0
