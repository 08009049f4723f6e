"""``stddev``: per-pixel mean, variance and standard deviation over the scan, against numpy's
two-pass float64 statistics and LiberTEM 0.16's ``StdDevUDF``."""

from __future__ import annotations

import numpy as np
import pytest
from libertem_udfs import run_udf
from numpy_reference import NAV, SIG, roi, scan_data, stddev_reference

from apps.core import kernels
from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.moments import combine_moments

#: float64 accumulation: equal to numpy's two-pass statistics up to a few rounding steps.
RTOL = 1e-12


def stddev(path, *, scan_roi=None, count=3):
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "stddev", {}, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    run = InlineExecutor().run(ds, analysis, roi=scan_roi, partitions=ds.partitions(count=count))
    return run.results


def assert_statistics(got, want, rtol=RTOL):
    assert sorted(got) == ["mean", "std", "var"]
    for name in ("mean", "var", "std"):
        assert got[name].dtype == np.float64 and got[name].shape == want[name].shape
        scale = np.max(np.abs(want[name]))
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("dtype", ["uint8", "int16", ">u2", "<i4", ">u4", "float32", ">f8"])
@pytest.mark.parametrize("kind", ["none", "random"])
def test_it_is_the_numpy_float64_statistics(tmp_path, dtype: str, kind: str) -> None:
    data = scan_data(dtype)
    np.save(tmp_path / "data.npy", data)
    got = stddev(tmp_path / "data.npy", scan_roi=roi(kind))
    assert_statistics(got, stddev_reference(data, roi(kind)))


def test_a_large_mean_keeps_the_digits_of_the_variance(tmp_path) -> None:
    # mean 1e9, std about 0.3: the sum of squares minus the squared sum keeps no digit of it
    rng = np.random.default_rng(5)
    data = 1e9 + rng.random((4, 9, 5, 6))
    np.save(tmp_path / "data.npy", data)
    got = stddev(tmp_path / "data.npy", count=4)
    frames = data.reshape(36, 5, 6)
    want = ((frames - frames.mean(axis=0)) ** 2).mean(axis=0)
    np.testing.assert_allclose(got["var"], want, rtol=1e-6)
    np.testing.assert_allclose(got["mean"], frames.mean(axis=0), rtol=1e-15)


def test_tiles_of_one_frame_and_many_threads_give_the_same_statistics(tmp_path) -> None:
    data = scan_data("uint16", nav=(6, 40), sig=(64, 70))  # 240 frames of 4480 pixels
    np.save(tmp_path / "data.npy", data)
    ds = open_dataset(str(tmp_path / "data.npy"))
    analysis = make_analysis(
        "stddev", {}, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    want = stddev_reference(data, None)
    for threads, itemsize in ((1, 2), (3, 2), (1, 10**9)):  # 10**9 bytes a pixel: 1-frame tiles
        task = analysis.task()
        task.work_itemsize = itemsize
        with kernels.threads(threads):
            values = [task(p, None, None) for p in ds.partitions(count=2)]
        assert [v.n for v in values] == [120, 120]
        assert_statistics(analysis.finish(combine_moments(*values)), want)


def test_it_is_nan_before_any_frame_and_zero_for_a_constant_pixel(tmp_path) -> None:
    analysis = make_analysis("stddev", {}, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    empty = analysis.results(analysis.new_state())
    assert all(np.isnan(empty[name]).all() and empty[name].shape == SIG for name in empty)

    data = np.zeros((3, 4, 5, 6), dtype=np.uint8)
    data[..., 0, 0] = 7
    data[1, :, 2, 3] = 4  # 4 of 12 frames at 4: mean 4/3, var 16 * (1/3) * (2/3)
    np.save(tmp_path / "data.npy", data)
    got = stddev(tmp_path / "data.npy")
    assert got["var"][0, 0] == 0 and got["mean"][0, 0] == 7
    np.testing.assert_allclose(got["mean"][2, 3], 4 / 3, rtol=1e-15)
    np.testing.assert_allclose(got["var"][2, 3], 16 * 2 / 9, rtol=1e-14)


def test_it_takes_no_parameters() -> None:
    with pytest.raises(ParameterError) as info:
        make_analysis("stddev", {"ddof": 1}, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    assert info.value.field == "ddof" and "no parameters" in info.value.message


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_it_matches_libertem_stddev_udf(tmp_path, reference, dtype: str) -> None:
    data = scan_data(dtype)
    np.save(tmp_path / "data.npy", data)
    scan_roi = roi("random")
    whole, inside = run_udf(
        reference,
        imports="from libertem.udf.stddev import StdDevUDF",
        udf="StdDevUDF()",
        names=("mean", "var", "std"),
        data=data,
        roi=scan_roi,
    )
    # LiberTEM accumulates in float64 too (with its own order of sums): 1e-10 of the scale
    for scan_roi_, want in ((None, whole), (scan_roi, inside)):
        assert_statistics(stddev(tmp_path / "data.npy", scan_roi=scan_roi_), want, rtol=1e-10)
