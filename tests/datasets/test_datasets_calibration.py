"""A dataset's calibration: the registration page stores what the API stores, the owner may
type it in on the dataset page or through the API, bad values are refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from apps.datasets.calibration import canonical_unit, pixel_size
from apps.datasets.models import Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def nexus_file(data_root: Path) -> Path:
    """A 3 x 4 scan of 8 x 8 frames in an NXdata group: 2.5 nm steps, 0.25 mrad pixels."""
    path = data_root / "calibrated.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        group.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["y", "x", "ky", "kx"]})
        group["data"] = np.arange(3 * 4 * 8 * 8, dtype=np.uint16).reshape(3, 4, 8, 8)
        for name, n, step, units in [
            ("y", 3, 2.5, "nm"),
            ("x", 4, 2.5, "nm"),
            ("ky", 8, 0.25, "mrad"),
            ("kx", 8, 0.25, "mrad"),
        ]:
            group[name] = np.arange(n) * step - 1.0
            group[name].attrs["units"] = units
    return path


def register_through_the_page(client, path: Path) -> Dataset:
    """What a user does: click the file, keep the detected values, press Register."""
    page = client.get("/datasets/register/", {"path": str(path)})
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in ("name", "path", "format", "params")}
    response = client.post("/datasets/register/", data)
    assert response.status_code == 302, response.context["form"].errors
    return Dataset.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def test_it_stores_the_same_calibration_from_the_page_as_from_the_api(
    users, nexus_file, client_for
):
    client = client_for(users.owner)
    body = {"name": "api", "path": str(nexus_file)}
    response = client.post("/api/datasets/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    from_api = Dataset.objects.get(pk=response.json()["id"])
    from_page = register_through_the_page(client, nexus_file)
    assert from_page.pk != from_api.pk
    assert from_page.calibration == from_api.calibration
    assert [a["units"] for a in from_page.calibration] == ["nm", "nm", "mrad", "mrad"]
    assert [a["scale"] for a in from_page.calibration] == [2.5, 2.5, 0.25, 0.25]
    assert response.json()["pixel_size"] == {
        "scan": {"y": 2.5, "x": 2.5, "units": "nm"},
        "detector": {"y": 0.25, "x": 0.25, "units": "mrad"},
    }
    html = client.get(f"/datasets/{from_page.pk}/").content.decode()
    assert "scan step 2.5 nm; detector pixel 0.25 mrad" in html


def test_it_edits_the_calibration_on_the_page(users, dataset, client_for):
    client = client_for(users.owner)
    assert dataset.calibration == []
    page = client.get(f"/datasets/{dataset.pk}/")
    assert "scan step not calibrated" in page.content.decode() and page.context["calibration_form"]
    data = {"scan_step": "12", "scan_units": "Å", "detector_step": "0.05", "detector_units": "1/Å"}
    response = client.post(f"/datasets/{dataset.pk}/calibration/", data)
    assert response.status_code == 302
    row = Dataset.objects.get()
    assert [(a["name"], a["units"], a["scale"]) for a in row.calibration] == [
        ("scan y", "Å", 12.0),
        ("scan x", "Å", 12.0),
        ("detector y", "1/Å", 0.05),
        ("detector x", "1/Å", 0.05),
    ]
    sizes = client.get(f"/api/datasets/{dataset.pk}/").json()["pixel_size"]
    assert sizes["scan"] == {"y": pytest.approx(1.2), "x": pytest.approx(1.2), "units": "nm"}
    assert sizes["detector"]["units"] == "1/nm"
    assert sizes["detector"]["x"] == pytest.approx(0.5)
    # the form opens with the values in the units the pages show
    form = client.get(f"/datasets/{dataset.pk}/").context["calibration_form"]
    assert (form["scan_step"].value(), form["scan_units"].value()) == (pytest.approx(1.2), "nm")
    # an empty size means "not known"
    client.post(f"/datasets/{dataset.pk}/calibration/", {**data, "scan_step": ""})
    assert pixel_size(Dataset.objects.get().calibration, [4, 5], [8, 8])["scan"] is None


def test_the_page_and_the_api_store_the_same_typed_calibration(users, npy_file, client_for):
    from apps.datasets.services import dataset_register

    client = client_for(users.owner)
    a = dataset_register(owner=users.owner, name="a", path=str(npy_file))
    b = dataset_register(owner=users.owner, name="b", path=str(npy_file))
    values = {"scan_step": 3.0, "scan_units": "nm", "detector_step": 0.7, "detector_units": "mrad"}
    assert client.post(f"/datasets/{a.pk}/calibration/", values).status_code == 302
    response = client.post(
        f"/api/datasets/{b.pk}/calibration/", json.dumps(values), content_type="application/json"
    )
    assert response.status_code == 200
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.calibration == b.calibration
    assert response.json()["pixel_size"]["detector"] == {"y": 0.7, "x": 0.7, "units": "mrad"}


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"scan_step": -2}, "scan_step", "The scan step must be a positive number, got -2"),
        ({"scan_step": 0}, "scan_step", "positive number"),
        ({"scan_step": "2 nm"}, "scan_step", "The scan step must be a number"),
        ({"scan_units": "inch"}, "scan_units", "Unknown unit 'inch' for the scan step"),
        ({"scan_units": "mrad"}, "scan_units", "expected one of nm, Å, pm, µm"),
        ({"detector_step": -1}, "detector_step", "The detector pixel size must be a positive"),
        ({"detector_units": "nm"}, "detector_units", "expected one of mrad, µrad, 1/nm, 1/Å"),
    ],
)
def test_it_refuses_bad_calibrations_naming_the_field(
    users, dataset, client_for, values, field, text
):
    good = {"scan_step": 2, "scan_units": "nm", "detector_step": 0.5, "detector_units": "mrad"}
    client = client_for(users.owner)
    response = client.post(
        f"/api/datasets/{dataset.pk}/calibration/",
        json.dumps({**good, **values}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert text in response.json()["fields"][field]
    page = client.post(f"/datasets/{dataset.pk}/calibration/", {**good, **values})
    assert page.status_code == 200 and text in " ".join(
        page.context["calibration_form"][field].errors
    )
    assert Dataset.objects.get().calibration == []


def test_it_refuses_a_nan_step_through_the_api(users, dataset, client_for):
    response = client_for(users.owner).post(
        f"/api/datasets/{dataset.pk}/calibration/",
        '{"scan_step": NaN, "scan_units": "nm"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert Dataset.objects.get().calibration == []


@pytest.mark.parametrize("units", [{}, 3, ["nm"], True])
def test_it_refuses_units_that_are_not_text_even_without_a_step(users, dataset, client_for, units):
    response = client_for(users.owner).post(
        f"/api/datasets/{dataset.pk}/calibration/",
        json.dumps({"scan_step": None, "detector_step": None, "detector_units": units}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["detector_units"].startswith(
        "The detector pixel size's unit must be a string, got "
    )
    assert Dataset.objects.get().calibration == []


def test_only_the_owner_and_staff_change_the_calibration(users, dataset, client_for):
    values = {"scan_step": 2, "scan_units": "nm", "detector_step": 1, "detector_units": "mrad"}
    url = f"/api/datasets/{dataset.pk}/calibration/"
    for user, status in [(users.outsider, 404), (users.member, 403), (None, 401)]:
        body = json.dumps(values)
        assert client_for(user).post(url, body, content_type="application/json").status_code == (
            status
        )
    assert (
        client_for(users.member).post(f"/datasets/{dataset.pk}/calibration/", values).status_code
        == 403
    )
    assert (
        client_for(users.outsider).post(f"/datasets/{dataset.pk}/calibration/", values).status_code
        == 404
    )
    member_page = client_for(users.member).get(f"/datasets/{dataset.pk}/")
    assert "calibration_form" not in member_page.context
    assert Dataset.objects.get().calibration == []
    staff = client_for(users.staff).post(url, json.dumps(values), content_type="application/json")
    assert staff.status_code == 200 and len(Dataset.objects.get().calibration) == 4


@pytest.mark.parametrize(
    ("units", "canonical"),
    [
        ("nm", "nm"),
        ("[n_m]", "nm"),
        ("[n_m^-1]", "1/nm"),
        ("A^-1", "1/Å"),
        ("1/A", "1/Å"),
        ("um", "µm"),
        ("\u03bcm", "µm"),
        ("urad", "µrad"),
        ("px", None),
        ("", None),
        (None, None),
    ],
)
def test_it_reads_the_units_files_write(units, canonical):
    assert canonical_unit(units) == canonical


def test_it_converts_file_units_into_the_units_shown():
    axes = [
        {"units": "Å", "scale": 5.0},
        {"units": "Å", "scale": -5.0},  # a falling axis is still 0.5 nm a step
        {"units": "A^-1", "scale": 0.04},
        {"units": "A^-1", "scale": 0.04},
    ]
    sizes = pixel_size(axes, [2, 3], [4, 4])
    assert sizes["scan"] == {"y": 0.5, "x": 0.5, "units": "nm"}
    assert sizes["detector"] == {"y": pytest.approx(0.4), "x": pytest.approx(0.4), "units": "1/nm"}
    # detector units on the scan, or an unknown unit, calibrate nothing
    assert pixel_size([axes[2], axes[3], *axes[2:]], [2, 3], [4, 4])["scan"] is None
    assert pixel_size([*axes[:2], {"units": "px", "scale": 1}, axes[3]], [2, 3], [4, 4]) == {
        "scan": {"y": 0.5, "x": 0.5, "units": "nm"},
        "detector": None,
    }
    # a stack of frames viewed as a scan: the file's frame axis is no scan step
    assert pixel_size([axes[0], *axes[2:]], [2, 3], [4, 4])["scan"] is None


def test_the_demo_hdf5_file_is_calibrated(tmp_path):
    from apps.core.io import detect
    from apps.datasets.demo import NAV_SHAPE, SIG_SHAPE, _nexus_axes

    path = tmp_path / "demo.h5"
    with h5py.File(path, "w") as f:  # the demo's layout; no frame is written (they read as 0)
        f.create_dataset("/entry/data/data", shape=NAV_SHAPE + SIG_SHAPE, dtype="<u2", chunks=True)
        _nexus_axes(f["/entry/data"])
    desc = detect(str(path))
    assert desc["params"] == {"dataset": "/entry/data/data"}
    assert pixel_size(desc["calibration"], list(NAV_SHAPE), list(SIG_SHAPE)) == {
        "scan": {"y": 2.0, "x": 2.0, "units": "nm"},
        "detector": {"y": 0.25, "x": 0.25, "units": "mrad"},
    }
