"""Result downloads in every format, and who may fetch them."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from apps.datasets.models import Dataset
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
        provenance={"source": "builtin", "version": "0.1.0"},
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
        assert json.loads(attrs["provenance"]) == {"source": "builtin", "version": "0.1.0"}


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


def calibrate(dataset, *, scan=2.5, detector=0.25, detector_units="mrad"):
    from apps.datasets.services import dataset_calibrate

    dataset_calibrate(
        user=dataset.owner,
        dataset=dataset,
        scan_step=scan,
        scan_units="nm",
        detector_step=detector,
        detector_units=detector_units,
    )


def h5_of(client, job, name):
    response = client.get(url(job, name, "h5"))
    assert response.status_code == 200
    return h5py.File(io.BytesIO(response.content), "r")


def test_it_gives_each_h5_result_its_units_and_physical_axes(users, client_for, dataset):
    calibrate(dataset)
    com = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="com", params={}, status="finished"
    )
    shift = np.linspace(-2, 2, 48, dtype=np.float32).reshape(6, 8)
    results_save(job=com, results={"x": shift, "divergence": shift})
    with h5_of(client_for(users.owner), com, "x") as f:
        attrs = f["x"].attrs
        assert (attrs["units"], attrs["physical_units"]) == ("px", "mrad")
        assert attrs["physical_scale"] == 0.25
        assert attrs["long_name"] == "Shift along scan x."
        group = f["entry/result"]
        assert (group.attrs["NX_class"], group.attrs["signal"]) == ("NXdata", "x")
        assert list(group.attrs["axes"]) == ["scan_y", "scan_x"]
        np.testing.assert_array_equal(group["x"][()], shift)  # the same data, linked
        np.testing.assert_allclose(group["scan_x"][()], np.arange(8) * 2.5)
        np.testing.assert_allclose(group["scan_y"][()], np.arange(6) * 2.5)
        assert group["scan_x"].attrs["units"] == "nm"
        assert f.attrs["default"] == "entry" and f["entry"].attrs["default"] == "result"
    with h5_of(client_for(users.owner), com, "divergence") as f:
        assert f["divergence"].attrs["physical_units"] == "mrad per nm"
        assert f["divergence"].attrs["physical_scale"] == pytest.approx(0.1)


def test_it_gives_parallax_its_defocus_and_shifts_in_nm(users, client_for, dataset):
    calibrate(dataset)  # 2.5 nm scan step, 0.25 mrad detector pixels
    job = Job.objects.create(
        owner=users.owner,
        dataset=dataset,
        analysis="parallax",
        params={"shifts": "measured", "cx": 4, "cy": 4, "r": 3},
        status="finished",
    )
    shifts = np.linspace(-2, 2, 100).reshape(10, 10)
    results_save(job=job, results={"defocus": np.array([0.5]), "shift_y": shifts})
    with h5_of(client_for(users.owner), job, "defocus") as f:
        attrs = f["defocus"].attrs
        # Δf = D step / θ_px = 0.5 x 2.5 nm / 0.25e-3 rad = 5000 nm
        assert (attrs["units"], attrs["physical_units"]) == ("scan px per px", "nm")
        assert 0.5 * attrs["physical_scale"] == pytest.approx(5000.0)
    with h5_of(client_for(users.owner), job, "shift_y") as f:
        attrs = f["shift_y"].attrs
        assert (attrs["units"], attrs["physical_units"], attrs["physical_scale"]) == (
            "scan px",
            "nm",
            2.5,
        )


def test_it_gives_com_phases_in_rad_once_the_beam_energy_is_known(users, client_for, dataset):
    calibrate(dataset)
    com = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="com", params={}, status="finished"
    )
    phase = np.linspace(-2, 2, 48, dtype=np.float32).reshape(6, 8)
    descan = np.arange(6.0).reshape(3, 2)
    results_save(job=com, results={"icom": phase, "descan": descan})
    client = client_for(users.owner)
    with h5_of(client, com, "icom") as f:  # 0.25 mrad × 2.5 nm per px × scan px
        attrs = f["icom"].attrs
        assert (attrs["units"], attrs["physical_units"]) == ("px × scan px", "mrad × nm")
        assert attrs["physical_scale"] == pytest.approx(0.625)
    with h5_of(client, com, "descan") as f:  # a few numbers: no scan axes
        np.testing.assert_array_equal(f["descan"][()], descan)
        assert "physical_units" not in f["descan"].attrs
        assert "axes" not in f["entry/result"].attrs
    Dataset.objects.filter(pk=dataset.pk).update(beam_energy=200.0)
    with h5_of(client, com, "icom") as f:
        # φ = 2π/λ · θ · r: λ(200 keV) = 2.5079 pm, θ = 0.25e-3 rad, r = 2.5 nm
        attrs = f["icom"].attrs
        assert attrs["physical_units"] == "rad"
        want = 2 * np.pi / 0.0025079347 * 0.25e-3 * 2.5
        assert attrs["physical_scale"] == pytest.approx(want, rel=1e-6)


def test_it_gives_radial_profiles_their_radii(users, client_for, dataset):
    calibrate(dataset, detector=0.5, detector_units="1/Å")  # 5 1/nm a pixel
    radial = Job.objects.create(
        owner=users.owner,
        dataset=dataset,
        analysis="radial",
        params={"cx": 4, "cy": 4, "ri": 1.0, "ro": 4.0, "bins": 3},
        status="finished",
    )
    results_save(job=radial, results={"profile": PROFILE})
    with h5_of(client_for(users.owner), radial, "profile") as f:
        group = f["entry/result"]
        assert list(group.attrs["axes"]) == ["scan_y", "scan_x", "radius"]
        # rings 1-2, 2-3, 3-4 px: centres 1.5, 2.5, 3.5 px of 5 1/nm
        np.testing.assert_allclose(group["radius"][()], [7.5, 12.5, 17.5])
        assert group["radius"].attrs["units"] == "1/nm"
        assert f["profile"].attrs["units"] == "data"


def test_it_gives_fourier_coefficients_radii_and_orders_and_cluster_means_clusters(
    users, client_for, dataset
):
    calibrate(dataset, detector=0.5, detector_units="mrad")
    params = {"cx": 4, "cy": 4, "ri": 0.0, "ro": 4.0, "bins": 2, "max_order": 3}
    fourier = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="radial_fourier", params=params
    )
    coefficients = (np.arange(6 * 8 * 2 * 4) * (1 + 1j)).astype(np.complex64).reshape(6, 8, 2, 4)
    results_save(job=fourier, results={"coefficients": coefficients})
    with h5_of(client_for(users.owner), fourier, "coefficients") as f:
        np.testing.assert_array_equal(f["coefficients"][()], coefficients)
        group = f["entry/result"]
        assert list(group.attrs["axes"]) == ["scan_y", "scan_x", "radius", "order"]
        np.testing.assert_allclose(group["radius"][()], [0.5, 1.5])  # 1 and 3 px
        np.testing.assert_array_equal(group["order"][()], [0, 1, 2, 3])
    clusters = Job.objects.create(owner=users.owner, dataset=dataset, analysis="cluster")
    means = np.ones((*dataset.sig_shape, 3))
    results_save(job=clusters, results={"means": means})
    with h5_of(client_for(users.owner), clusters, "means") as f:
        axes = list(f["entry/result"].attrs["axes"])
        assert axes == ["detector_y", "detector_x", "cluster"]


def test_it_counts_pixels_on_uncalibrated_axes(users, client_for, job, dataset):
    assert dataset.calibration == []
    sum_job = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", params={}, status="finished"
    )
    frame = np.ones(tuple(dataset.sig_shape), np.float32)
    results_save(job=sum_job, results={"mean": frame})
    with h5_of(client_for(users.owner), sum_job, "mean") as f:
        assert f["mean"].attrs["units"] == "data"
        assert "physical_units" not in f["mean"].attrs
        group = f["entry/result"]
        assert list(group.attrs["axes"]) == ["detector_y", "detector_x"]
        assert group["detector_x"].attrs["units"] == "px"
        np.testing.assert_array_equal(group["detector_x"][()], np.arange(dataset.sig_shape[1]))
    # a result the declaration does not know ("intensity" of this virtual job is known; a
    # stray one is not) still downloads, without units
    results_save(job=job, results={"stray": INTENSITY})
    with h5_of(client_for(users.owner), job, "stray") as f:
        assert "units" not in f["stray"].attrs and "axes" not in f["entry/result"].attrs


def test_a_profile_over_the_whole_scan_gets_radii_or_bins(monkeypatch, job):
    from types import SimpleNamespace

    from apps.core.analyses.declaration import Result
    from apps.results import units

    profile = Result("profile", "bins", "A profile over the scan.", unit="data")
    monkeypatch.setattr(units, "declared_result", lambda analysis, name: profile)
    calibrate(job.dataset)
    rings = SimpleNamespace(dataset=job.dataset, analysis="x", params={"ri": 0.0, "ro": 8.0})
    (radius,) = units.result_axes(rings, "profile", (4,))
    np.testing.assert_allclose(radius.values, np.array([1, 3, 5, 7]) * 0.25)
    assert radius.units == "mrad"
    plain = SimpleNamespace(dataset=job.dataset, analysis="x", params={})
    (bins,) = units.result_axes(plain, "profile", (3,))
    assert (bins.name, list(bins.values), bins.units) == ("bin", [0, 1, 2], "")
