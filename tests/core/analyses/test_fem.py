"""``fem``: the ring's standard deviation per frame and the normalised variance V(k) over the
scan, against numpy, a known answer and LiberTEM 0.16's ``FEMUDF``."""

from __future__ import annotations

import numpy as np
import pytest
from libertem_udfs import run_udf
from numpy_reference import CASES, NAV, SIG, fem_reference, roi, scan_data

from apps.core import kernels
from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset

PARAMS = CASES["fem"]


def fem(path, params=PARAMS, *, scan_roi=None, count=3):
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "fem", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    run = InlineExecutor().run(ds, analysis, roi=scan_roi, partitions=ds.partitions(count=count))
    return run.results


@pytest.mark.parametrize("dtype", ["uint8", ">i2", "<u2", ">u4", "float32", "<f8"])
@pytest.mark.parametrize("kind", ["none", "rect"])
def test_it_is_the_numpy_float64_reference(tmp_path, dtype: str, kind: str) -> None:
    data = scan_data(dtype)
    np.save(tmp_path / "data.npy", data)
    got = fem(tmp_path / "data.npy", scan_roi=roi(kind))
    want = fem_reference(data, roi(kind), **PARAMS)
    assert sorted(got) == ["radius", "std", "variance"]
    assert got["std"].shape == NAV and got["variance"].shape == got["radius"].shape == (5,)
    for name, ref in want.items():
        assert got[name].dtype == np.float64
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(ref))
        scale = np.nanmax(np.abs(ref))
        np.testing.assert_allclose(got[name], ref, rtol=0, atol=1e-11 * scale)


def test_a_known_fluctuation(tmp_path) -> None:
    # Every ring pixel of frame f is c_k * (1 + s_f), s_f = +-0.1 in turn: each bin's mean is
    # c_k (1 + s_f), so V(k) = <(1 + s)^2> / <1 + s>^2 - 1 = 0.01 in every bin.
    sig, cy, cx = (21, 21), 10.0, 10.0
    yy, xx = np.indices(sig)
    d = np.hypot(yy - cy, xx - cx)
    base = np.where((d > 2) & (d <= 8), 100 + 10 * np.floor(d), 7.0)
    s = np.where(np.arange(12) % 2 == 0, 0.1, -0.1)
    data = (base[None] * (1 + s[:, None, None])).reshape(3, 4, *sig)
    np.save(tmp_path / "data.npy", data)
    got = fem(tmp_path / "data.npy", {"cx": cx, "cy": cy, "ri": 2, "ro": 8, "bins": 3})
    np.testing.assert_allclose(got["variance"], [0.01] * 3, rtol=1e-12)
    np.testing.assert_allclose(got["radius"], [3, 5, 7])
    ring = base[(d > 2) & (d <= 8)]
    np.testing.assert_allclose(got["std"].ravel(), np.std(ring) * (1 + s), rtol=1e-12)


def test_bins_without_a_pixel_are_nan(tmp_path) -> None:
    data = scan_data("uint16", nav=(2, 3), sig=(9, 9))
    np.save(tmp_path / "data.npy", data)
    # width 0.25 around a pixel centre: only distances 1, 1.41, 2, 2.24, 2.83, 3 occur
    got = fem(tmp_path / "data.npy", {"cx": 4, "cy": 4, "ri": 0, "ro": 3, "bins": 12})
    filled = [3, 5, 7, 8, 11]  # (0.75, 1], (1.25, 1.5], (1.75, 2], (2, 2.25], (2.75, 3]
    assert np.flatnonzero(np.isfinite(got["variance"])).tolist() == filled
    want = fem_reference(data, None, cx=4, cy=4, ri=0, ro=3, bins=12)
    np.testing.assert_allclose(got["variance"][filled], want["variance"][filled], rtol=1e-10)


def test_it_is_nan_before_any_frame() -> None:
    analysis = make_analysis("fem", PARAMS, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    empty = analysis.results(analysis.new_state())
    assert np.isnan(empty["std"]).all() and empty["std"].shape == NAV
    assert np.isnan(empty["variance"]).all() and np.isfinite(empty["radius"]).all()


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"ro": 3.0}, "ro", "greater than ri"),
        ({"bins": 0}, "bins", "at least 1"),
        ({"bins": 2000}, "bins", "at most 1024"),
        ({"cx": 200.0, "ro": 5.0}, "cx", "contains no pixel"),
        ({"ri": -1.0}, "ri", "from 0"),
    ],
)
def test_bad_parameters_name_the_field(params, field: str, words: str) -> None:
    with pytest.raises(ParameterError) as info:
        make_analysis("fem", {**PARAMS, **params}, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    assert info.value.field == field and words in info.value.message


def test_bins_default_to_16() -> None:
    params = {k: v for k, v in PARAMS.items() if k != "bins"}
    analysis = make_analysis("fem", params, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    assert analysis.params["bins"] == 16
    assert analysis.results(analysis.new_state())["variance"].shape == (16,)


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_its_std_matches_libertem_fem_udf(tmp_path, reference, dtype: str) -> None:
    data = scan_data(dtype)
    np.save(tmp_path / "data.npy", data)
    scan_roi = roi("random")
    whole, inside = run_udf(
        reference,
        imports="from libertem.udf.FEM import FEMUDF",
        # FEMUDF's centre is (row, column)
        udf="FEMUDF(center=(p[0], p[1]), rad_in=p[2], rad_out=p[3])",
        names=("intensity",),
        data=data,
        roi=scan_roi,
        params=(PARAMS["cy"], PARAMS["cx"], PARAMS["ri"], PARAMS["ro"]),
    )
    # LiberTEM computes np.std in float32: 1e-5 of the largest value
    ours = fem(tmp_path / "data.npy")["std"]
    scale = np.max(ours)
    np.testing.assert_allclose(ours, whole["intensity"], rtol=0, atol=1e-5 * scale)
    ours_roi = fem(tmp_path / "data.npy", scan_roi=scan_roi)["std"]
    assert np.isnan(ours_roi[~scan_roi]).all()
    np.testing.assert_allclose(ours_roi[scan_roi], inside["intensity"][scan_roi], atol=1e-5 * scale)


def test_frames_shared_over_threads_give_the_same_values(tmp_path) -> None:
    data = scan_data("uint16", nav=(6, 40), sig=(64, 70))  # rings of ~2000 pixels, 240 frames
    np.save(tmp_path / "data.npy", data)
    params = {"cx": 33.0, "cy": 30.5, "ri": 4.0, "ro": 30.0, "bins": 7}
    want = fem_reference(data, None, **params)
    for threads in (1, 3):
        with kernels.threads(threads):
            got = fem(tmp_path / "data.npy", params, count=2)
        for name, ref in want.items():
            np.testing.assert_allclose(got[name], ref, rtol=1e-11)


def test_the_ring_as_rising_runs() -> None:
    analysis = make_analysis("fem", PARAMS, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    task = analysis.task()
    assert task.runs.dtype == np.int64 and task.runs.shape[1] == 2
    covered = np.concatenate([np.arange(a, b) for a, b in task.runs])
    np.testing.assert_array_equal(covered, np.sort(task.pixels))
