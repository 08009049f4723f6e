"""``radial_fourier``: LiberTEM 0.16's radial Fourier analysis, a known symmetry, its limits.

The float64 numpy reference over every dtype, ROI, format and dask is in
test_analysis_results.py and test_analysis_dask.py (``CASES["radial_fourier"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy_reference import NAV, SIG, roi, scan_data

from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset

#: LiberTEM computes with complex64 masks; ours are float32 (float64 for float64 data).
LIBERTEM_RTOL = 1e-5


def radial_fourier(
    tmp_path, data: np.ndarray, params: dict[str, Any], scan_roi=None
) -> dict[str, np.ndarray]:
    np.save(tmp_path / "data.npy", data)
    ds = open_dataset(str(tmp_path / "data.npy"))
    analysis = make_analysis(
        "radial_fourier", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return (
        InlineExecutor().run(ds, analysis, roi=scan_roi, partitions=ds.partitions(count=3)).results
    )


LIBERTEM = """
from libertem.api import Context
from libertem.executor.inline import InlineJobExecutor

ctx = Context(executor=InlineJobExecutor())
ds = ctx.load("memory", data=inputs["data"], sig_dims=2)
p = inputs["params"]
analysis = ctx.create_radial_fourier_analysis(
    dataset=ds, cx=p[0], cy=p[1], ri=p[2], ro=p[3], n_bins=int(p[4]), max_order=int(p[5])
)
result = ctx.run(analysis)
# (bins, orders, *nav) -> (*nav, bins, orders), as ours
outputs["coefficients"] = np.moveaxis(result.raw_results, (0, 1), (-2, -1))
outputs["dominant"] = np.stack(
    [result[f"dominant_{b}"].raw_data for b in range(int(p[4]))], axis=-1
)
"""


@pytest.mark.parametrize(
    ("dtype", "params"),
    [
        ("uint16", {"cx": 22.6, "cy": 15.3, "ri": 1.5, "ro": 14.0, "bins": 3, "max_order": 6}),
        ("float32", {"cx": 30.0, "cy": 12.0, "ri": 0.0, "ro": 20.5, "bins": 2, "max_order": 12}),
        ("<f8", {"cx": 23.25, "cy": 16.5, "ri": 0.25, "ro": 9.0, "bins": 1, "max_order": 24}),
    ],
)
def test_it_equals_libertem(tmp_path, reference, dtype: str, params: dict[str, Any]) -> None:
    data = scan_data(dtype)
    ours = radial_fourier(tmp_path, data, params)
    keys = ("cx", "cy", "ri", "ro", "bins", "max_order")
    theirs = reference.run(LIBERTEM, data=data, params=np.array([params[k] for k in keys]))
    want = theirs["coefficients"].astype(np.complex128)
    scale = np.abs(want).max()
    assert np.abs(ours["coefficients"] - want).max() <= LIBERTEM_RTOL * scale
    np.testing.assert_array_equal(ours["dominant"], theirs["dominant"])


def six_fold(phase: float) -> np.ndarray:
    """Frames whose intensity is ``100 (1 + cos(6 (phi - phase)))`` everywhere."""
    yy, xx = np.indices(SIG, dtype=np.float64)
    phi = np.arctan2(yy - 16, xx - 23)
    frame = 100 * (1 + np.cos(6 * (phi - phase)))
    return np.broadcast_to(frame, (2, 3, *SIG)).astype(np.float32)


def test_a_six_fold_pattern_has_order_six_at_its_phase(tmp_path) -> None:
    phase = 0.2
    got = radial_fourier(
        tmp_path, six_fold(phase), {"cx": 23, "cy": 16, "ri": 4, "ro": 14, "max_order": 8}
    )
    # c6 = sum 100 (1 + cos 6(phi - phase)) e^{6 i phi} ~ (N / 2) 100 e^{6 i phase}, c0 ~ 100 N
    assert (got["dominant"] == 6).all()
    relative = got["relative"][..., 0, :]
    np.testing.assert_allclose(relative[..., 6], 0.5, atol=0.01)
    assert (np.delete(relative, [0, 6], axis=-1) < 0.03).all()
    np.testing.assert_allclose(np.angle(got["coefficients"][..., 0, 6]), 6 * phase, atol=0.01)
    np.testing.assert_allclose(relative[..., 0], 1)


def test_a_uniform_frame_has_no_dominant_order_and_zero_frames_give_zero(tmp_path) -> None:
    data = np.zeros((1, 2, *SIG), dtype=np.uint8)
    data[0, 0] = 7
    data[0, 1, 16, 23:] = 200  # one ray: every order equally strong
    got = radial_fourier(tmp_path, data, {"cx": 23, "cy": 16, "ro": 12, "max_order": 3})
    assert got["dominant"][0, 0, 0] == 0  # far below a fifth of the ray's orders
    np.testing.assert_allclose(got["relative"][0, 1, 0], 1, rtol=1e-6)
    empty = radial_fourier(tmp_path, np.zeros((1, 1, *SIG), np.uint8), {"cx": 3, "cy": 3, "ro": 9})
    assert (empty["relative"] == 0).all() and (empty["coefficients"] == 0).all()


def test_it_is_nan_outside_the_roi_and_dominant_uses_the_roi_only(tmp_path) -> None:
    data = scan_data("int16")
    scan_roi = roi("disk")
    params = {"cx": 22.6, "cy": 15.3, "ro": 14.0, "bins": 2, "max_order": 4}
    got = radial_fourier(tmp_path, data, params, scan_roi)
    assert np.isnan(got["coefficients"][~scan_roi]).all()
    assert np.isnan(got["dominant"][~scan_roi]).all()
    assert np.isfinite(got["dominant"][scan_roi]).all()
    whole = radial_fourier(tmp_path, data, params)
    np.testing.assert_array_equal(got["coefficients"][scan_roi], whole["coefficients"][scan_roi])


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"cx": 20, "cy": 15, "ri": 5, "ro": 5}, "ro", "greater than ri"),
        ({"cx": 20, "cy": 15, "ro": 9, "bins": 40, "max_order": 24}, "max_order", "at most 12"),
        ({"cx": 20, "cy": 15, "ro": 9, "max_order": 0}, "max_order", "at least 1"),
        ({"cx": 500, "cy": 15, "ro": 9}, "cx", "no pixel"),
        ({"cy": 15, "ro": 9}, "cx", "required"),
    ],
)
def test_it_refuses_bad_geometry_naming_the_field(params, field: str, words: str) -> None:
    with pytest.raises(ParameterError) as info:
        make_analysis("radial_fourier", params, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    assert info.value.field == field and words in info.value.message, str(info.value)
