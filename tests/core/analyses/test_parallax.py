"""``parallax``: tilt-corrected bright field on synthetic frames whose bright-field pixels see a
known image moved by known shifts ``d = D R(θ) u``, against a numpy reference written out
pixel by pixel; the measured shifts give back ``D`` and ``θ``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from parallax_reference import parallax_reference

from apps.core import parallax
from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset

NAV, SIG, CY, CX, R = (24, 20), (21, 21), 10.0, 10.0, 7.0


def known(per_px):
    """The defocus parameters that give ``D = per_px`` scan pixels per detector pixel: a
    1 nm scan step and 10 mrad detector pixels, ``Δf = 100 D`` nm."""
    return {
        "shifts": "defocus",
        "defocus": 100 * per_px,
        "scan_step": 1.0,
        "detector_pixel": 10.0,
        "beam_energy": 300.0,
    }


def smooth_image(shape, seed=3):
    rng = np.random.default_rng(seed)
    qy, qx = np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij")
    spectrum = np.fft.fft2(rng.normal(size=shape)) * np.exp(-(qy**2 + qx**2) / (2 * 0.08**2))
    image = np.fft.ifft2(spectrum).real
    return image / image.std()


def moved(image, dy, dx):
    """``image(y - dy, x - dx)``, periodic, by the Fourier shift theorem."""
    qy, qx = np.meshgrid(*(np.fft.fftfreq(n) for n in image.shape), indexing="ij")
    return np.fft.ifft2(np.fft.fft2(image) * np.exp(-2j * np.pi * (qy * dy + qx * dx))).real


def synthetic_frames(matrix, *, dtype="float32"):
    """Frames ``NAV + SIG``: 0.01 outside the disk, ``1 + 0.2 B(y - A u)`` inside."""
    image = smooth_image(NAV)
    frames = np.full(NAV + SIG, 0.01)
    pixels, offsets = parallax.bright_field_pixels(SIG, cy=CY, cx=CX, r=R)
    flat = frames.reshape(*NAV, -1)
    for pixel, (dy, dx) in zip(pixels, offsets @ matrix.T, strict=True):
        flat[:, :, pixel] = 1 + 0.2 * moved(image, dy, dx)
    return image, frames.astype(dtype)


def run(path, params, *, roi=None, count=3):
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "parallax", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, roi=roi, partitions=ds.partitions(count=count))


def test_it_is_the_shifted_mean_of_the_bright_field_pixels(tmp_path) -> None:
    matrix = parallax.shift_matrix(defocus=0.5, rotation_deg=25.0, flip_y=False)
    _, frames = synthetic_frames(matrix)
    np.save(tmp_path / "data.npy", frames)
    params = {"cx": CX, "cy": CY, "r": R, **known(0.5)}
    got = run(tmp_path / "data.npy", params | {"scan_rotation": 25.0}).results
    want = parallax_reference(frames, None, **params, scan_rotation=25.0)
    np.testing.assert_allclose(got["image"], want["image"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["bright_field"], want["bright_field"], rtol=1e-12)
    pixels, offsets = parallax.bright_field_pixels(SIG, cy=CY, cx=CX, r=R)
    # the shifts: d = A u at the bright-field pixels, NaN elsewhere
    assert got["shift_y"].shape == SIG and np.isnan(got["shift_y"][0, 0])
    np.testing.assert_allclose(got["shift_y"].ravel()[pixels], (offsets @ matrix.T)[:, 0])
    np.testing.assert_allclose(got["shift_x"].ravel()[pixels], (offsets @ matrix.T)[:, 1])
    assert got["defocus"] == pytest.approx([0.5]) and got["rotation"] == pytest.approx([25.0])
    np.testing.assert_allclose(got["astigmatism"], [0, 0], atol=1e-12)


@pytest.mark.parametrize(("defocus", "rotation"), [(0.5, 25.0), (-0.4, -70.0), (0.6, 0.0)])
def test_measured_shifts_give_back_defocus_and_rotation(tmp_path, defocus, rotation) -> None:
    matrix = parallax.shift_matrix(defocus=defocus, rotation_deg=rotation, flip_y=False)
    _, frames = synthetic_frames(matrix)
    np.save(tmp_path / "data.npy", frames)
    got = run(tmp_path / "data.npy", {"shifts": "measured", "cx": CX, "cy": CY, "r": R}).results
    assert got["defocus"][0] == pytest.approx(defocus, rel=0.01)
    assert abs(got["rotation"][0] - rotation) < 0.5
    np.testing.assert_allclose(got["astigmatism"], [0, 0], atol=0.01)
    given = {"cx": CX, "cy": CY, "r": R, **known(defocus)}
    want = run(tmp_path / "data.npy", given | {"scan_rotation": rotation}).results
    assert np.corrcoef(got["image"].ravel(), want["image"].ravel())[0, 1] > 0.99


def test_frames_outside_the_scan_roi_count_as_zero(tmp_path) -> None:
    matrix = parallax.shift_matrix(defocus=0.5, rotation_deg=25.0, flip_y=False)
    _, frames = synthetic_frames(matrix, dtype="float64")
    np.save(tmp_path / "data.npy", frames)
    roi = np.zeros(NAV, dtype=bool)
    roi[4:15, 3:12] = True
    params = {"cx": CX, "cy": CY, "r": R, **known(0.5)}
    got = run(tmp_path / "data.npy", params | {"scan_rotation": 25.0}, roi=roi).results
    want = parallax_reference(frames, roi, **params, scan_rotation=25.0)
    np.testing.assert_allclose(got["image"], want["image"], rtol=0, atol=1e-12)
    assert np.isnan(got["bright_field"][~roi]).all() and np.isfinite(got["bright_field"][roi]).all()


def test_the_image_does_not_depend_on_the_order_partitions_arrive_in(tmp_path) -> None:
    matrix = parallax.shift_matrix(defocus=0.5, rotation_deg=25.0, flip_y=False)
    _, frames = synthetic_frames(matrix)
    np.save(tmp_path / "data.npy", frames)
    ds = open_dataset(str(tmp_path / "data.npy"))
    analysis = make_analysis(
        "parallax",
        {"shifts": "measured", "cx": CX, "cy": CY, "r": R},
        nav_shape=ds.nav_shape,
        sig_shape=ds.sig_shape,
        dtype=ds.dtype,
    )
    parts = ds.partitions(count=4)
    done = {p.index: analysis.task()(p, None, None) for p in parts}
    states = []
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        state = analysis.new_state()
        partial = None
        for i, index in enumerate(order):
            state = analysis.merge(state, parts[index], done[index])
            if i == 1:
                partial = analysis.results(state)
        states.append((analysis.results(state), partial))
    for name, value in states[0][0].items():
        np.testing.assert_array_equal(value, states[1][0][name])
    # a partial state already has an image (the frames read so far) and the fit
    partial = states[0][1]
    assert np.isfinite(partial["image"]).all() and np.isfinite(partial["defocus"]).all()
    assert np.isnan(partial["bright_field"]).any()


def test_aberrations_split_a_matrix_into_defocus_rotation_and_astigmatism() -> None:
    rotation = parallax.shift_matrix(defocus=-0.7, rotation_deg=40.0, flip_y=False)
    astig = np.array([[0.1, -0.05], [-0.05, -0.1]])
    got = parallax.aberrations(rotation + astig)
    assert got["defocus"][0] == pytest.approx(-0.7) and got["rotation"][0] == pytest.approx(40)
    np.testing.assert_allclose(got["astigmatism"], [0.1, -0.05], atol=1e-12)
    # 180 degrees more is the opposite defocus: the rotation stays within (-90, 90]
    turned = parallax.aberrations(
        parallax.shift_matrix(defocus=0.3, rotation_deg=150, flip_y=False)
    )
    assert turned["defocus"][0] == pytest.approx(-0.3) and turned["rotation"][0] == pytest.approx(
        -30
    )
    flipped = parallax.shift_matrix(defocus=1.0, rotation_deg=0.0, flip_y=True)
    assert flipped @ np.array([2.0, 3.0]) == pytest.approx([-2.0, 3.0])


def test_the_rotation_turns_as_the_com_analysis_does() -> None:
    # com: x' = x cos θ - y sin θ, y' = x sin θ + y cos θ; a detector x offset at 90 degrees
    # becomes a scan y offset.
    matrix = parallax.shift_matrix(defocus=1.0, rotation_deg=90.0, flip_y=False)
    assert matrix @ np.array([0.0, 1.0]) == pytest.approx([1.0, 0.0])
    assert math.isclose(np.linalg.det(matrix), 1.0)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"shifts": "measured", "cx": 10, "cy": 10, "r": 0.5}, "r"),
        ({"shifts": "defocus", "cx": 10, "cy": 10, "r": 5}, "defocus"),
        ({**known(0.5), "cx": 10, "cy": 10, "r": 5, "scan_step": 0}, "scan_step"),
        ({**known(0.5), "cx": 10, "cy": 10, "r": 5, "detector_pixel": None}, "detector_pixel"),
        ({"shifts": "sideways", "cx": 10, "cy": 10, "r": 5}, "shifts"),
        ({"shifts": "measured", "cx": 10, "cy": 10, "r": 5, "defocus": 1}, "defocus"),
    ],
)
def test_bad_parameters_name_the_field(params, field) -> None:
    with pytest.raises(ParameterError) as raised:
        make_analysis("parallax", params, nav_shape=NAV, sig_shape=SIG, dtype="float32")
    assert raised.value.field == field


def test_a_disk_too_large_for_memory_is_refused_naming_r(monkeypatch) -> None:
    from apps.core.analyses import parallax as analysis_module

    monkeypatch.setattr(analysis_module, "MAX_VALUES", 100 * 24 * 20)
    params = {"shifts": "measured", "cx": 10, "cy": 10, "r": 7}  # 149 pixels
    with pytest.raises(ParameterError, match="at most 100") as raised:
        make_analysis("parallax", params, nav_shape=NAV, sig_shape=SIG, dtype="float32")
    assert raised.value.field == "r"
