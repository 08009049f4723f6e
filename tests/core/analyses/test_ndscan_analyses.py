"""Analyses on a scan of three axes: nav-shaped results take the full scan shape.

Per-position analyses and reductions equal the float64 references on the whole array; ``com``
works on each 2-d slice of the last two scan axes (one descan plane and orientation for all);
``pick`` takes the slice; ``parallax`` and ``ssb`` refuse with the analysis and the shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy_reference import CASES, check_results, com_reference, scan_data, write

from apps.core.analyses import ANALYSES, make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import DataSet, open_dataset

NAV3 = (3, 4, 5)


@pytest.fixture(scope="module")
def scan3(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, DataSet]:
    data = scan_data(">i2", nav=NAV3)
    folder = Path(tmp_path_factory.mktemp("scan3"))
    return data, open_dataset(write(folder, data, "npy"))


def run(ds: DataSet, name: str, params: dict[str, Any], roi: np.ndarray | None = None):
    analysis = make_analysis(
        name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    # 7 partitions of 60 frames: their edges fall inside the scan rows and slices
    return InlineExecutor().run(ds, analysis, roi=roi, partitions=ds.partitions(count=7)).results


def scan_roi() -> np.ndarray:
    roi = np.zeros(NAV3, dtype=bool)
    roi[0, 1:3, 2:] = True
    roi[2, :, 1] = True
    return roi


@pytest.mark.parametrize(
    "name",
    [
        "sum",
        "virtual",
        "radial",
        "masks",
        "std",
        "stddev",
        "fem",
        "radial_fourier",
        "cluster",
        "strain",
    ],
)
@pytest.mark.parametrize("with_roi", [False, True], ids=["whole", "roi"])
def test_per_position_results_take_the_full_scan_shape(
    scan3: tuple[np.ndarray, DataSet], name: str, with_roi: bool
) -> None:
    data, ds = scan3
    assert ds.nav_shape == NAV3
    roi = scan_roi() if with_roi else None
    results = run(ds, name, CASES[name], roi)
    for result in ANALYSES[name].declaration.results:
        if result.shape.startswith("nav"):
            shape = results[result.name].shape
            assert shape[:3] == NAV3, f"{name}.{result.name}: shape {shape}"
    check_results(name, CASES[name], data, roi, results)


@pytest.mark.parametrize("with_roi", [False, True], ids=["whole", "roi"])
def test_com_works_on_each_slice_of_the_last_two_scan_axes(
    scan3: tuple[np.ndarray, DataSet], with_roi: bool
) -> None:
    data, ds = scan3
    params = {**CASES["com"], "descan": "none"}
    roi = scan_roi() if with_roi else None
    results = run(ds, "com", params, roi)
    for key in ("x", "y", "magnitude", "divergence", "curl", "icom", "ricom"):
        assert results[key].shape == NAV3
    for k in range(NAV3[0]):
        per_slice = {key: value[k] for key, value in results.items() if value.shape == NAV3}
        expected = com_reference(data[k], None if roi is None else roi[k], **params)
        check_results(
            "com",
            params,
            data[k],
            None if roi is None else roi[k],
            {**per_slice, "descan": results["descan"], "guess": results["guess"]},
        )
        assert np.isnan(per_slice["x"]).sum() == np.isnan(expected["x"]).sum()


def test_com_on_one_slice_equals_com_on_the_2d_scan(tmp_path: Path) -> None:
    data = scan_data("<u2", nav=(4, 5))
    flat = open_dataset(write(tmp_path / "a", data, "npy"))
    stacked = open_dataset(write(tmp_path / "b", data[np.newaxis], "npy"))
    params = {**CASES["com"], "scan_rotation": "auto", "flip_y": "auto"}  # plane descan, guess
    two, three = run(flat, "com", params), run(stacked, "com", params)
    for key, value in two.items():
        expected = value[np.newaxis] if value.shape == (4, 5) else value
        np.testing.assert_allclose(three[key], expected, rtol=1e-6, atol=1e-9, err_msg=key)


def test_pick_takes_the_slice_of_a_three_axis_scan(scan3: tuple[np.ndarray, DataSet]) -> None:
    data, ds = scan3
    frame = run(ds, "pick", {"slice": 2, "y": 1, "x": 3})["frame"]
    np.testing.assert_array_equal(frame, data[2, 1, 3].astype(np.float32))
    with pytest.raises(ParameterError, match="slice") as err:
        run(ds, "pick", {"slice": 3, "y": 1, "x": 3})
    assert err.value.field == "slice"
    frame = run(ds, "pick", {"y": 1, "x": 3})["frame"]  # the first slice by default
    np.testing.assert_array_equal(frame, data[0, 1, 3].astype(np.float32))


@pytest.mark.parametrize("name", ["parallax", "ssb"])
def test_analyses_of_one_2d_scan_image_refuse_three_axes(
    scan3: tuple[np.ndarray, DataSet], name: str
) -> None:
    _, ds = scan3
    params = CASES[name]
    with pytest.raises(ParameterError, match=rf"{name} needs a .*2-d scan.*\[3, 4, 5\]") as err:
        make_analysis(name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype)
    assert err.value.field == "analysis"
