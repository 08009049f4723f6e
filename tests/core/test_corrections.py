"""Corrections (dark, gain, excluded pixels) against numpy references applied by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.corrections import Corrections, detect_hot_pixels, pixel_mask
from apps.core.errors import DataSetError
from apps.core.executor import InlineExecutor
from apps.core.io import DataSet, open_dataset
from apps.core.io.corrected import CorrectedPartition

NAV, SIG = (6, 7), (12, 10)


@pytest.fixture
def scan(tmp_path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, size=(*NAV, *SIG), dtype=np.uint16)
    maps = {
        "dark": rng.uniform(0, 50, SIG),
        "gain": rng.uniform(0.5, 1.5, SIG),
        "excluded": rng.random(SIG) < 0.05,
    }
    np.save(tmp_path / "scan.npy", data)
    for name, value in maps.items():
        np.save(tmp_path / f"{name}.npy", value)
    return data, maps, str(tmp_path / "scan.npy")


def corrected(data: np.ndarray, maps: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    out = data.astype(np.float64)
    if "dark" in names:
        out = out - maps["dark"]
    if "gain" in names:
        out = out * maps["gain"]
    if "excluded" in names:
        out = np.where(maps["excluded"], 0.0, out)
    return out


def run(ds: DataSet, name: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    analysis = make_analysis(
        name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=4)).results


@pytest.mark.parametrize(
    "names", [("dark",), ("gain",), ("excluded",), ("dark", "gain", "excluded")]
)
def test_it_corrects_every_analysis_like_numpy(
    scan: tuple[np.ndarray, dict[str, np.ndarray], str], names: tuple[str, ...]
) -> None:
    data, maps, path = scan
    ds = open_dataset(path, params={n: f"{n}.npy" for n in names})
    assert ds.params() == {n: f"{n}.npy" for n in names}
    ref = corrected(data, maps, names)
    scale = np.abs(ref).max()
    out = run(ds, "sum", {})
    np.testing.assert_allclose(out["sum"], ref.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(out["max"], ref.max(axis=(0, 1)), rtol=1e-5, atol=1e-5 * scale)
    out = run(ds, "pick", {"y": 4, "x": 2})
    np.testing.assert_allclose(out["frame"], ref[4, 2], rtol=1e-5, atol=1e-5 * scale)
    disk = (np.mgrid[:12, :10][0] - 5.5) ** 2 + (np.mgrid[:12, :10][1] - 4) ** 2 <= 16
    out = run(ds, "virtual", {"shape": "disk", "cy": 5.5, "cx": 4, "r": 4})
    expected = (ref * disk).sum(axis=(2, 3))
    np.testing.assert_allclose(out["intensity"], expected, rtol=1e-5, atol=1e-5 * scale * 50)
    masks = np.random.default_rng(1).uniform(-1, 1, (3, *SIG))
    out = run(ds, "masks", {"masks": masks})
    expected = np.einsum("abyx,myx->abm", ref, masks)
    np.testing.assert_allclose(out["masks"], expected, rtol=1e-5, atol=1e-4 * scale * 50)


def test_mask_analyses_fold_the_corrections_instead_of_reading_corrected_tiles(
    scan: tuple[np.ndarray, dict[str, np.ndarray], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, path = scan
    ds = open_dataset(path, params={"dark": "dark.npy", "gain": "gain.npy"})

    def refuse(*args: object) -> None:
        raise AssertionError("a mask analysis read corrected tiles")

    monkeypatch.setattr(CorrectedPartition, "read", refuse)
    out = run(ds, "virtual", {"shape": "disk", "cy": 5.5, "cx": 4, "r": 4})
    assert np.isfinite(out["intensity"]).all()


def test_only_excluded_pixels_keep_the_native_dtype(
    scan: tuple[np.ndarray, dict[str, np.ndarray], str],
) -> None:
    _, _, path = scan
    assert open_dataset(path, params={"excluded": "excluded.npy"}).dtype == np.uint16
    assert open_dataset(path, params={"gain": "gain.npy"}).dtype == np.float32


def test_it_refuses_a_map_of_the_wrong_shape(tmp_path: Path) -> None:
    np.save(tmp_path / "scan.npy", np.zeros((2, 3, 4, 5), np.uint8))
    np.save(tmp_path / "dark.npy", np.zeros((5, 4)))
    with pytest.raises(DataSetError, match=r"dark\.npy: the dark map has shape \[5, 4\]"):
        open_dataset(str(tmp_path / "scan.npy"), params={"dark": "dark.npy"})


def test_fold_equals_apply() -> None:
    rng = np.random.default_rng(0)
    c = Corrections(
        sig_shape=(4, 5),
        dark=rng.uniform(size=(4, 5)),
        gain=rng.uniform(size=(4, 5)),
        excluded=rng.random((4, 5)) < 0.3,
    )
    frames = rng.uniform(0, 100, (6, 20))
    masks = rng.uniform(size=(2, 20))
    folded, offsets = c.fold(masks)
    np.testing.assert_allclose(frames @ folded.T - offsets, c.apply(frames, np.float64) @ masks.T)


def test_it_detects_hot_pixels_above_their_neighbours() -> None:
    rng = np.random.default_rng(5)
    frame = rng.poisson(100, (32, 32)).astype(float)
    frame[3, 7] = 1000
    frame[0, 0] = 900
    hot = detect_hot_pixels(frame)
    assert set(zip(*np.nonzero(hot), strict=True)) == {(3, 7), (0, 0)}
    with pytest.raises(ValueError, match="2-d"):
        detect_hot_pixels(frame[0])


def test_it_detects_hot_pixels_at_registration_and_keeps_them_in_the_params(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(8)
    data = rng.poisson(50, (4, 5, 12, 10)).astype(np.uint16)
    data[:, :, 7, 3] = 5000
    np.save(tmp_path / "scan.npy", data)
    ds = open_dataset(
        str(tmp_path / "scan.npy"), params={"hot_pixels": True, "excluded_pixels": [[0, 1]]}
    )
    assert ds.params() == {"excluded_pixels": [[0, 1], [7, 3]]}
    assert ds.dtype == np.uint16
    ref = np.where(pixel_mask([[0, 1], [7, 3]], SIG), 0, data.astype(np.float64))
    np.testing.assert_allclose(run(ds, "sum", {})["sum"], ref.sum(axis=(0, 1)))
    again = open_dataset(str(tmp_path / "scan.npy"), params=ds.params())
    assert again.describe() == ds.describe()
    with pytest.raises(DataSetError, match=r"excluded_pixels: \[12, 0\] is not a \[y, x\] pixel"):
        open_dataset(str(tmp_path / "scan.npy"), params={"excluded_pixels": [[12, 0]]})
