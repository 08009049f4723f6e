"""``strain``: a lattice of Bragg disks with a known strain field gives that field back, and
equals the direct-correlation reference."""

from __future__ import annotations

import random

import numpy as np
import pytest
from bragg_frames import LARGE, SMALL, write_strained_scan
from strain_reference import strain_reference

from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor, RunResult
from apps.core.io import open_dataset

NAV = (8, 10)


@pytest.fixture(scope="module")
def strained_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("strain") / "scan.npy"
    return str(path), write_strained_scan(path, LARGE, NAV)


def run_strain(
    path: str, params: dict, *, count: int = 3, roi: np.ndarray | None = None
) -> RunResult:
    ds = open_dataset(path)
    analysis = make_analysis(
        "strain", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, roi=roi, partitions=ds.partitions(count=count))


def test_a_known_strain_field_against_a_reference_region(strained_scan) -> None:
    path, known = strained_scan
    first_column = {"ref_y": 0, "ref_x": 0, "ref_height": NAV[0], "ref_width": 1}
    got = run_strain(path, {"reference": "region", **LARGE.params(), **first_column}).results
    for name in ("exx", "eyy", "exy"):
        assert got[name].shape == NAV and got[name].dtype == np.float64
        np.testing.assert_allclose(got[name], known[name], rtol=0, atol=1e-3, err_msg=name)
    np.testing.assert_allclose(np.radians(got["rotation"]), known["omega"], rtol=0, atol=1e-3)
    # measured: 2.4e-4 at most; the field itself reaches 1e-2
    assert np.abs(got["exx"] - known["exx"]).max() < 5e-4
    truth = known["truth"]
    for i, name in enumerate(("zero_y", "zero_x", "a_y", "a_x", "b_y", "b_x")):
        np.testing.assert_allclose(got[name], truth[..., i], rtol=0, atol=0.03, err_msg=name)
    assert (got["peaks"] == 25).all()
    assert (got["residual"] < 0.1).all()


@pytest.mark.parametrize(("degrees", "flip_y"), [(30.0, False), (-75.0, True)])
def test_the_strain_turns_into_the_scan_axes(strained_scan, degrees: float, flip_y: bool) -> None:
    path, _ = strained_scan
    params = {"reference": "region", **LARGE.params(), "ref_y": 0, "ref_x": 0, "ref_height": 8}
    detector = run_strain(path, params).results
    turned = {"scan_rotation": degrees, "flip_y": flip_y}
    scan = run_strain(path, {**params, **turned}).results
    # a tensor E in detector axes is R D E D R^T in the scan's (D: the flip, R: the rotation)
    t = np.radians(degrees)
    c, s, d = np.cos(t), np.sin(t), -1.0 if flip_y else 1.0
    exx, eyy, exy = detector["exx"], detector["eyy"], detector["exy"] * d
    np.testing.assert_allclose(scan["exx"], c * c * exx - 2 * c * s * exy + s * s * eyy, atol=1e-12)
    np.testing.assert_allclose(scan["eyy"], s * s * exx + 2 * c * s * exy + c * c * eyy, atol=1e-12)
    np.testing.assert_allclose(scan["exy"], c * s * (exx - eyy) + (c * c - s * s) * exy, atol=1e-12)
    np.testing.assert_allclose(scan["rotation"], d * detector["rotation"], atol=1e-9)
    np.testing.assert_array_equal(scan["a_x"], detector["a_x"])  # positions stay on the detector


def test_the_default_reference_is_the_median_lattice(strained_scan) -> None:
    path, known = strained_scan
    got = run_strain(path, {"reference": "median", **LARGE.params()}).results
    truth = known["truth"].reshape(-1, 6)
    median = np.median(truth, axis=0)

    def basis(lat: np.ndarray) -> np.ndarray:  # columns a, b as (x, y)
        return np.array([[lat[3], lat[5]], [lat[2], lat[4]]])

    for flat, (iy, ix) in enumerate(np.ndindex(*NAV)):
        f = (basis(median) @ np.linalg.inv(basis(truth[flat]))).T
        want = {"exx": f[0, 0] - 1, "eyy": f[1, 1] - 1, "exy": (f[0, 1] + f[1, 0]) / 2}
        for name, value in want.items():
            assert abs(got[name][iy, ix] - value) < 1e-3, (name, iy, ix)
        angle = np.arctan2(f[1, 0] - f[0, 1], f[0, 0] + f[1, 1])
        assert abs(np.radians(got["rotation"][iy, ix]) - angle) < 1e-3


@pytest.mark.parametrize(("log", "descan"), [(False, 0.0), (True, 0.0), (False, 4.0)])
def test_it_equals_the_direct_correlation_reference(tmp_path, log: bool, descan: float) -> None:
    # with descan the pattern wanders by up to 3.5 px: more than the search of 2 px
    wander = 3.5 if descan else 1.0
    write_strained_scan(tmp_path / "scan.npy", SMALL, (5, 6), dose=300, descan=wander)
    data = np.load(tmp_path / "scan.npy")
    params = {"reference": "median", **SMALL.params(), "search": 2.0, "log": log, "descan": descan}
    if log:  # and the strain in scan axes
        params.update(scan_rotation=20.0, flip_y=True)
    scan_roi = np.ones((5, 6), bool)
    scan_roi[1, 2:5] = False
    got = run_strain(str(tmp_path / "scan.npy"), params, count=4, roi=scan_roi).results
    want = strain_reference(data, scan_roi, params)
    assert sorted(got) == sorted(want)
    # the analysis correlates in float32, the reference in float64: measured 1e-6 px, 1e-7 strain
    tolerance = {"exx": 1e-6, "eyy": 1e-6, "exy": 1e-6, "rotation": 1e-4, "peaks": 0}
    for name, value in want.items():
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(value), err_msg=name)
        atol = tolerance.get(name, 1e-5)
        np.testing.assert_allclose(got[name], value, rtol=0, atol=atol, err_msg=name)
    assert np.isnan(got["exx"][1, 2:5]).all() and not np.isnan(got["exx"][scan_roi]).any()
    if descan:  # disks moved too near the frame's edge are left out
        assert np.nanmin(got["peaks"]) >= 6 and np.nanmax(got["peaks"]) == 9
    else:
        assert (got["peaks"][scan_roi] == 9).all()


def test_descan_lets_the_disks_be_found_where_the_pattern_moved(tmp_path) -> None:
    # the zero order wanders by up to 7.5 px, 2.5 times the search radius
    known = write_strained_scan(tmp_path / "scan.npy", LARGE, NAV, descan=7.5)
    params = {"reference": "region", **LARGE.params(), "ref_y": 0, "ref_x": 0, "ref_height": 8}
    fixed = run_strain(str(tmp_path / "scan.npy"), params).results
    assert (fixed["peaks"][-1] < 25).all()  # the far frames lose their disks
    got = run_strain(str(tmp_path / "scan.npy"), {**params, "descan": 9.0}).results
    assert (got["peaks"] == 25).all()
    for name in ("exx", "eyy", "exy"):
        np.testing.assert_allclose(got[name], known[name], rtol=0, atol=1e-3, err_msg=name)
    np.testing.assert_allclose(got["zero_y"], known["truth"][..., 0], rtol=0, atol=0.03)
    np.testing.assert_allclose(got["zero_x"], known["truth"][..., 1], rtol=0, atol=0.03)


def test_a_region_outside_the_scan_is_refused(strained_scan) -> None:
    path, _ = strained_scan
    ds = open_dataset(path)
    params = {"reference": "region", **LARGE.params(), "ref_y": 6, "ref_x": 0, "ref_height": 3}
    with pytest.raises(ParameterError) as info:
        make_analysis("strain", params, nav_shape=NAV, sig_shape=ds.sig_shape, dtype=ds.dtype)
    assert info.value.field == "ref_height" and "rows 6 to 8" in info.value.message


@pytest.mark.parametrize(
    ("change", "sig", "field", "words"),
    [
        ({"bx": 42.0, "by": 3.0}, LARGE.sig, "bx", "parallel"),
        (
            {"search": 10.5},
            LARGE.sig,
            "search",
            "half the shortest distance between disks (20.1 px)",
        ),
        ({"cy": 20.0, "cx": 20.0}, (40, 40), "cx", "has 1 disk(s) at least search + r = 7"),
        ({"descan": 63.0}, LARGE.sig, "descan", "(63 px around row 63, column 65) must lie"),
    ],
)
def test_impossible_lattices_are_refused(change: dict, sig, field: str, words: str) -> None:
    params = {"reference": "median", **LARGE.params(), **change}
    with pytest.raises(ParameterError) as info:
        make_analysis("strain", params, nav_shape=NAV, sig_shape=sig, dtype="uint16")
    assert info.value.field == field and words in info.value.message


def test_partitions_merged_in_any_order_give_the_same_maps(strained_scan) -> None:
    path, _ = strained_scan
    ds = open_dataset(path)
    params = {"reference": "median", **LARGE.params()}
    analysis = make_analysis(
        "strain", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    whole = InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=1)).results
    parts = [(p, analysis.task()(p, None, None)) for p in ds.partitions(count=7)]
    random.Random(5).shuffle(parts)
    state = analysis.new_state()
    for partition, rows in parts:
        state = analysis.merge(state, partition, rows)
    merged = analysis.results(state)
    for name, value in whole.items():
        np.testing.assert_array_equal(merged[name], value, err_msg=name)
    # a partial state (the first three partitions) gives NaN for the frames still missing and
    # strain against the median of the frames done so far
    state = analysis.new_state()
    for partition, rows in parts[:3]:
        state = analysis.merge(state, partition, rows)
    partial = analysis.results(state)
    done = np.zeros(ds.n_frames, bool)
    for partition, _ in parts[:3]:
        done[partition.start : partition.stop] = True
    assert np.isnan(partial["exx"].reshape(-1)[~done]).all()
    assert not np.isnan(partial["exx"].reshape(-1)[done]).any()
    np.testing.assert_array_equal(partial["a_x"].reshape(-1)[done], whole["a_x"].reshape(-1)[done])
