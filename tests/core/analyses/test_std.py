"""``std``: the standard deviation of each frame against ``np.std(frame)``."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_reference import NAV, SIG, roi, scan_data

from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset


def frame_std(path: str, scan_roi: np.ndarray | None = None) -> np.ndarray:
    ds = open_dataset(path)
    analysis = make_analysis(
        "std", {}, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    run = InlineExecutor().run(ds, analysis, roi=scan_roi, partitions=ds.partitions(count=3))
    return run.results["std"]


@pytest.mark.parametrize("dtype", ["float32", ">f8", "uint16", "int8", "<i4"])
def test_it_is_np_std_of_each_frame(tmp_path, dtype: str) -> None:
    data = scan_data(dtype)
    np.save(tmp_path / "data.npy", data)
    got = frame_std(str(tmp_path / "data.npy"))
    want = np.empty(NAV)
    for iy, ix in np.ndindex(*NAV):
        want[iy, ix] = np.std(data[iy, ix].astype(np.float64))
    assert got.dtype == np.float64 and got.shape == NAV
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_it_is_nan_outside_the_scan_roi(tmp_path) -> None:
    data = scan_data("int16")
    np.save(tmp_path / "data.npy", data)
    scan_roi = roi("disk")
    got = frame_std(str(tmp_path / "data.npy"), scan_roi)
    assert np.isnan(got[~scan_roi]).all()
    np.testing.assert_allclose(
        got[scan_roi], [np.std(frame) for frame in data[scan_roi]], rtol=1e-12, atol=0
    )


def test_a_known_frame(tmp_path) -> None:
    data = np.zeros((1, 2, *SIG), dtype=np.uint8)
    data[0, 1, :16] = 2  # 16 of 33 rows at 2: std = 2 * sqrt(p * (1 - p)), p = 16/33
    np.save(tmp_path / "data.npy", data)
    got = frame_std(str(tmp_path / "data.npy"))
    p = 16 / 33
    np.testing.assert_allclose(got, [[0.0, 2 * np.sqrt(p * (1 - p))]], rtol=1e-12)


def test_it_takes_no_parameters() -> None:
    with pytest.raises(ParameterError) as info:
        make_analysis("std", {"ddof": 1}, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    assert info.value.field == "ddof" and "no parameters" in info.value.message
