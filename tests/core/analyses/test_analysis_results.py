"""Every analysis against an independent float64 numpy reference (inline executor).

Data: a 7 x 13 scan of 33 x 47 frames, split into partitions that do not divide 91 frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy_reference import (
    ALL_DTYPES,
    CASES,
    SIG,
    DatasetFactory,
    check_results,
    roi,
    scan_data,
    user_masks,
    write,
)

from apps.core.analyses import ANALYSES as ANALYSES_BY_NAME
from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor, RunResult
from apps.core.io import DataSet, open_dataset

ANALYSES = tuple(CASES)


def run(
    ds: DataSet,
    name: str,
    params: dict[str, Any],
    *,
    roi_: np.ndarray | None = None,
    count: int = 4,
) -> RunResult:
    analysis = make_analysis(
        name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, roi=roi_, partitions=ds.partitions(count=count))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("name", ANALYSES)
def test_it_matches_the_reference_for_every_dtype(
    dataset: DatasetFactory, name: str, dtype: str
) -> None:
    data, ds = dataset(dtype, "raw")
    check_results(name, CASES[name], data, None, run(ds, name, CASES[name]).results)


@pytest.mark.parametrize("kind", ["rect", "disk", "random"])
@pytest.mark.parametrize("name", ANALYSES)
def test_it_is_nan_outside_the_scan_roi(dataset: DatasetFactory, name: str, kind: str) -> None:
    data, ds = dataset(">i2", "npy")
    scan_roi = roi(kind)
    result = run(ds, name, CASES[name], roi_=scan_roi)
    check_results(name, CASES[name], data, scan_roi, result.results)
    passes = ANALYSES_BY_NAME[name].passes  # frames read: once per pass
    assert result.frames == passes * np.count_nonzero(scan_roi) or name == "pick"


@pytest.mark.parametrize("form", ["npy", "raw", "raw-parts", "hdf5", "hdf5-chunked", "hdf5-gzip"])
@pytest.mark.parametrize("name", ANALYSES)
def test_it_reads_every_format(dataset: DatasetFactory, name: str, form: str) -> None:
    data, ds = dataset("<u2", form)
    check_results(
        name,
        CASES[name],
        data,
        roi("random"),
        run(ds, name, CASES[name], roi_=roi("random")).results,
    )
    check_results(name, CASES[name], data, None, run(ds, name, CASES[name]).results)


@pytest.mark.parametrize("count", [1, 2, 7, 13, 91])
@pytest.mark.parametrize("name", ["sum", "com", "masks"])
def test_the_partition_count_does_not_change_results(
    dataset: DatasetFactory, name: str, count: int
) -> None:
    data, ds = dataset("<f4", "raw")
    scan_roi = roi("disk")
    result = run(ds, name, CASES[name], roi_=scan_roi, count=count)
    parts = ds.partitions(count=count)
    with_roi = [p.index for p in parts if scan_roi.reshape(-1)[p.start : p.stop].any()]
    assert len(parts) == count and [r.index for r in result.partitions] == with_roi
    check_results(name, CASES[name], data, roi("disk"), result.results)


@pytest.mark.parametrize("dtype", ["<u2", "<f4", ">f8"])
def test_the_sum_without_the_maximum_gives_the_sum_and_mean_alone(
    dataset: DatasetFactory, dtype: str
) -> None:
    data, ds = dataset(dtype, "raw")
    alone = run(ds, "sum", {"max": False}, roi_=roi("random")).results
    check_results("sum", {"max": False}, data, roi("random"), alone)
    assert "max" not in alone
    both = run(ds, "sum", {}, roi_=roi("random")).results
    np.testing.assert_array_equal(alone["sum"], both["sum"])  # the same bits either way


VIRTUAL_SHAPES = {
    "disk": {"shape": "disk", "cx": 46.5, "cy": -2.0, "r": 9.0},  # centre off the corner
    "disk-edge": {"shape": "disk", "cx": 20, "cy": 15, "r": 5},  # pixels on the circle
    "ring": {"shape": "ring", "cx": 20.5, "cy": 14.0, "ri": 4, "ro": 11.2},
    "ring-edge": {"shape": "ring", "cx": 20, "cy": 14, "ri": 3, "ro": 10},
    "rect": {"shape": "rect", "y": -3, "x": 30, "height": 12, "width": 40},  # clipped
    "point": {"shape": "point", "y": 31, "x": 2},
    "polygon": {"shape": "polygon", "points": [[2, 3], [8, 40.5], [30.2, 25.5], [20, 5]]},
}


@pytest.mark.parametrize("dtype", ["<u2", ">f8"])
@pytest.mark.parametrize("shape", VIRTUAL_SHAPES)
def test_virtual_matches_every_shape(dataset: DatasetFactory, shape: str, dtype: str) -> None:
    data, ds = dataset(dtype, "raw-parts")
    params = VIRTUAL_SHAPES[shape]
    check_results("virtual", params, data, None, run(ds, "virtual", params).results)


@pytest.mark.parametrize(
    "params",
    [
        {"cx": 22.0, "cy": 17.0, "r": 15.0},
        {"cx": 31.5, "cy": 9.25, "r": 8.0, "ri": 3.0, "scan_rotation": -90.0},
        {"cx": 27.4, "cy": 15.2, "r": 20.0, "scan_rotation": 181.5, "flip_y": True},
    ],
)
@pytest.mark.parametrize("dtype", ["|u1", ">u4", "<f8"])
def test_com_matches_rotations_flips_and_rings(
    dataset: DatasetFactory, params: dict[str, Any], dtype: str
) -> None:
    data, ds = dataset(dtype, "raw")
    check_results(
        "com", params, data, roi("random"), run(ds, "com", params, roi_=roi("random")).results
    )


def test_com_is_nan_for_frames_without_weight(tmp_path: Any) -> None:
    data = scan_data("<u2")
    data[2, 5, 5:25, 20:40] = 0  # the whole disk of frame (2, 5)
    ds = open_dataset(write(tmp_path, data, "npy"))
    params = {"cx": 29.0, "cy": 14.0, "r": 6.0}
    results = run(ds, "com", params).results
    check_results("com", params, data, None, results)
    assert np.isnan(results["x"][2, 5]) and np.isnan(results["magnitude"][2, 5])
    assert np.isnan(results["divergence"][1:4, 4:7]).sum() == 5  # the frame and 4 neighbours
    assert np.isfinite(results["x"]).sum() == 90


@pytest.mark.parametrize("name", ["com", "pick", "virtual", "sum"])
def test_it_handles_a_one_dimensional_scan(tmp_path: Any, name: str) -> None:
    data = scan_data("<i2").reshape(91, *SIG)
    ds = open_dataset(write(tmp_path, data, "npy"))
    assert ds.nav_shape == (91,)
    params = {"x": 50} if name == "pick" else CASES[name]
    check_results(name, params, data, None, run(ds, name, params).results)


def test_com_of_a_single_scan_row_has_no_row_derivative(tmp_path: Any) -> None:
    data = scan_data("<u2")[3:4]
    ds = open_dataset(write(tmp_path, data, "npy"))
    results = run(ds, "com", CASES["com"], count=3).results
    check_results("com", CASES["com"], data, None, results)
    assert results["divergence"].shape == (1, 13)


@pytest.mark.parametrize(
    "masks",
    [
        user_masks(dtype="float64"),
        user_masks()[1],  # one (sy, sx) mask
        user_masks()[1] > 0,  # bool
        (user_masks() * 10).astype(np.int16),
        np.ones((2, *SIG), dtype=np.float32),  # dense
    ],
    ids=["float64", "single", "bool", "int16", "dense"],
)
def test_masks_accepts_every_kind_of_stack(dataset: DatasetFactory, masks: np.ndarray) -> None:
    data, ds = dataset(">u2", "raw")
    result = run(ds, "masks", {"masks": masks}, roi_=roi("rect"))
    check_results("masks", {"masks": masks}, data, roi("rect"), result.results)


def test_pick_runs_only_the_partition_with_the_frame(dataset: DatasetFactory) -> None:
    data, ds = dataset("<i4", "npy")
    result = run(ds, "pick", {"y": 6, "x": 12}, count=4)
    assert [r.index for r in result.partitions] == [3]
    np.testing.assert_array_equal(result.results["frame"], data[6, 12].astype(np.float32))


def test_pick_outside_the_roi_is_nan_and_reads_nothing(dataset: DatasetFactory) -> None:
    _data, ds = dataset("<i4", "npy")
    scan_roi = roi("rect")
    assert not scan_roi[0, 0]
    result = run(ds, "pick", {"y": 0, "x": 0}, roi_=scan_roi)
    assert result.partitions == [] and np.isnan(result.results["frame"]).all()
