"""The catalogue's overview: the default ring around the bright disk, and both images against
numpy computed here."""

from __future__ import annotations

import numpy as np
import pytest

from apps.core.executor import InlineExecutor
from apps.core.io.npy import NpyDataSet
from apps.core.overview import default_ring, overview_analysis


def disk_frame(sy: int, sx: int, cy: float, cx: float, r: float) -> np.ndarray:
    y, x = np.indices((sy, sx))
    return np.where((y - cy) ** 2 + (x - cx) ** 2 <= r * r, 100.0, 1.0)


def test_the_ring_surrounds_the_bright_disk():
    ring = default_ring(disk_frame(64, 80, cy=30.0, cx=42.0, r=8.0))
    assert ring["cy"] == pytest.approx(30.0, abs=0.01)
    assert ring["cx"] == pytest.approx(42.0, abs=0.01)
    # The disk's pixel count gives its radius: pi r^2 ~ area, within a pixel's rim.
    assert ring["ri"] == pytest.approx(1.5 * 8.0, rel=0.05)
    assert ring["ro"] == pytest.approx(30.5)  # the nearest edge: the top, 30.5 px away


@pytest.mark.parametrize("frame", [np.zeros((8, 8)), np.ones((16, 16)), np.full((2, 2), np.nan)])
def test_without_a_disk_the_ring_is_centred(frame):
    ring = default_ring(frame)
    sy, sx = frame.shape
    assert (ring["cy"], ring["cx"]) == ((sy - 1) / 2, (sx - 1) / 2)
    assert 0 <= ring["ri"] < ring["ro"]


def test_a_one_pixel_frame_still_gets_a_ring_holding_it():
    ring = default_ring(np.ones((1, 1)))
    assert ring["ri"] == 0 and ring["ro"] >= 0.5


def test_it_computes_the_mean_frame_and_the_adf_image(tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.poisson(5, size=(5, 7, 24, 20)).astype(np.uint16)
    frames[..., 10:14, 8:12] += 200  # the bright disk
    path = tmp_path / "scan.npy"
    np.save(path, frames)
    ds = NpyDataSet.open(str(path))
    analysis = overview_analysis(nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype)
    results = InlineExecutor().run(ds, analysis).results
    mean = frames.astype(np.float64).mean(axis=(0, 1))
    np.testing.assert_allclose(results["mean"], mean, rtol=1e-12)
    cy, cx, ri, ro = results["ring"]
    y, x = np.indices(frames.shape[-2:])
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    inside = (d2 > ri**2) & (d2 <= ro**2)
    assert 0 < inside.sum() < inside.size
    adf = frames[..., inside].astype(np.float64).sum(axis=-1)
    np.testing.assert_allclose(results["adf"], adf, rtol=1e-6)
    assert (cy, cx) == pytest.approx((11.5, 9.5), abs=0.2)
