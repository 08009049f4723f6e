"""The compiled sum-and-maximum fold against numpy, for every dtype it takes."""

from __future__ import annotations

import numpy as np
import pytest

from apps.core import fold_jit, fold_numpy, kernels


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def fold_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both paths of :func:`kernels.fold_frames`: the compiled loop, and numpy's
    twin a process uses before it loads numba."""
    monkeypatch.setattr(
        kernels._compiled, "fold", fold_jit.fold if request.param == "compiled" else None
    )
    monkeypatch.setattr(kernels._compiled, "numpy_bytes", 0)
    return str(request.param)


def fold(tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = tile.shape[1]
    total = np.zeros(c)
    lowest = -np.inf if tile.dtype.kind == "f" else np.iinfo(tile.dtype).min
    peak = np.full(c, lowest, dtype=tile.dtype)
    acc = np.zeros(c, np.float32)
    kernels.fold_frames(tile, total, peak, acc)
    assert not acc.any()  # the scratch is left zeroed for the next tile
    return total, peak


@pytest.mark.parametrize("dtype", ["|u1", "|i1", "<u2", "<i2", "<f4"])
@pytest.mark.parametrize("k", [1, 3, 4, 7, 64, 257])
def test_it_sums_and_takes_the_maximum_like_numpy(dtype: str, k: int) -> None:
    rng = np.random.default_rng(k)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (info.min, info.max) if info else (-1e4, 1e4)
    tile = rng.uniform(lo, hi, size=(k, 301)).astype(dtype)
    total, peak = fold(tile)
    ref = tile.astype(np.float64)
    scale = np.abs(ref).sum(axis=0).max()  # the contract's tolerance is relative to this
    np.testing.assert_allclose(total, ref.sum(axis=0), rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(peak, tile.max(axis=0))


def test_it_sums_16_bit_integers_exactly_past_the_float32_limit() -> None:
    # 1000 frames of 65535: 65535000 > 2**24, exact only if float32 sums are flushed in time.
    tile = np.full((1000, 17), 65535, dtype=np.uint16)
    total, peak = fold(tile)
    assert (total == 65535 * 1000).all() and (peak == 65535).all()


def test_it_keeps_float32_sums_within_the_tolerance_over_many_frames() -> None:
    rng = np.random.default_rng(1)
    tile = (1e6 + rng.random((5000, 64))).astype(np.float32)
    total, _peak = fold(tile)
    np.testing.assert_allclose(total, tile.astype(np.float64).sum(axis=0), rtol=1e-6)


def test_it_reads_strided_tiles() -> None:
    frames = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    view = frames[::3, 5:45]  # rows strided, columns a slice
    total, peak = fold(view)
    np.testing.assert_array_equal(total, view.astype(np.float64).sum(axis=0))
    np.testing.assert_array_equal(peak, view.max(axis=0))


@pytest.mark.parametrize(
    ("dtype", "takes"),
    [("<u2", True), ("<f4", True), ("|i1", True), (">u2", False), ("<u4", False), ("<f8", False)],
)
def test_it_takes_only_native_dtypes_it_sums_exactly(dtype: str, takes: bool) -> None:
    assert kernels.can_fold(np.dtype(dtype)) is takes


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["<u2", "<f4"])
def test_the_threaded_fold_adds_up_every_tile_like_numpy(threads: int, dtype: str) -> None:
    rng = np.random.default_rng(threads)
    frames = rng.integers(0, 4000, size=(301, 97)).astype(dtype)
    total = np.zeros(97)
    peak = np.full(97, np.iinfo(dtype).min if dtype == "<u2" else -np.inf, dtype=dtype)
    with kernels.threads(threads):
        assert kernels.thread_count() == threads
        fold = kernels.Fold(total, peak)
        for lo in range(0, 301, 77):  # tiles of 77 frames and a last one of 70
            fold(frames[lo : lo + 77])
        fold.finish()
    assert kernels.thread_count() >= 1  # the default again outside the block
    np.testing.assert_array_equal(total, frames.astype(np.float64).sum(axis=0))
    np.testing.assert_array_equal(peak, frames.max(axis=0))


@pytest.mark.parametrize("dtype", ["|u1", "<i2", "<u2", "<f4"])
@pytest.mark.parametrize("k", [3, 4, 130])
def test_the_sum_without_the_maximum_has_the_same_bits(dtype: str, k: int) -> None:
    rng = np.random.default_rng(k)
    tile = (rng.uniform(0, 100, size=(k, 203)) * (1.37 if dtype == "<f4" else 1)).astype(dtype)
    with_peak, _peak = fold(tile)
    alone, acc = np.zeros(203), np.zeros(203, np.float32)
    kernels.fold_frames(tile, alone, None, acc)
    assert not acc.any()
    np.testing.assert_array_equal(alone, with_peak)  # bit for bit, not only close
    np.testing.assert_allclose(alone, tile.astype(np.float64).sum(axis=0), rtol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_threaded_fold_sums_without_a_maximum(threads: int) -> None:
    frames = np.random.default_rng(5).integers(0, 4000, size=(301, 97)).astype("<u2")
    total = np.zeros(97)
    with kernels.threads(threads):
        fold = kernels.Fold(total, None)
        for lo in range(0, 301, 77):
            fold(frames[lo : lo + 77])
        fold.finish()
    assert fold.peak is None
    np.testing.assert_array_equal(total, frames.astype(np.float64).sum(axis=0))


@pytest.mark.parametrize("dtype", ["|u1", "|i1", "<u2", "<i2", "<f4"])
@pytest.mark.parametrize("k", [1, 3, 4, 7, 64, 301])
@pytest.mark.parametrize("maximum", [True, False])
def test_numpys_twin_gives_the_compiled_loops_bits(dtype: str, k: int, maximum: bool) -> None:
    rng = np.random.default_rng(k)
    if dtype == "<f4":
        tile = (rng.standard_normal((k, 509)) * 1e3).astype(dtype)
    else:
        info = np.iinfo(dtype)
        tile = rng.integers(info.min, info.max, size=(k, 509), endpoint=True).astype(dtype)
    tile[0, :3] = [np.nan, np.inf, -np.inf] if dtype == "<f4" else tile[0, :3]
    tile.flags.writeable = False
    lowest = -np.inf if dtype == "<f4" else np.iinfo(dtype).min
    flush = kernels.FOLD_FLUSH_FRAMES[tile.dtype.kind]
    out = []
    for loop in (fold_jit.fold, fold_numpy.fold):
        total, acc = np.zeros(509), np.zeros(509, np.float32)
        peak = np.full(509, lowest, dtype=dtype) if maximum else None
        loop(tile, total, peak, acc, flush)
        out.append((total, peak))
    np.testing.assert_array_equal(out[0][0], out[1][0])  # NaN where the other has NaN
    if maximum:
        finite = np.isfinite(out[0][0])  # NaN sums mark their maxima in Fold.finish
        np.testing.assert_array_equal(out[0][1][finite], out[1][1][finite])


def test_a_process_folds_with_numpy_until_it_has_folded_enough(monkeypatch) -> None:
    monkeypatch.setattr(kernels._compiled, "fold", None)
    monkeypatch.setattr(kernels, "COMPILED_AFTER_BYTES", 1000)
    tile = np.ones((4, 100), np.float32)  # 1600 bytes
    monkeypatch.setattr(kernels._compiled, "numpy_bytes", 0)
    total = np.zeros(100)
    kernels.fold_frames(tile[:2], total, None, np.zeros(100, np.float32))  # 800 bytes: numpy
    assert kernels._compiled.fold is None
    kernels.fold_frames(tile, total, None, np.zeros(100, np.float32))  # past 1000: compiled
    assert kernels._compiled.fold is fold_jit.fold
    np.testing.assert_array_equal(total, np.full(100, 6.0))
