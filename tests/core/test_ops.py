"""The per-partition operations: mask products, frame sums, picking, tiles and cancellation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core.errors import JobCancelled
from apps.core.io.base import Partition
from apps.core.io.raw import RawDataSet
from apps.core.masks import MaskStack
from apps.core.ops import aligned_empty, apply_masks, compute_dtype, read_frame, sum_frames

SIG = (33, 47)
N = 91


class CountingPartition(Partition):
    """A MappedPartition's frames, counting the tiles read."""

    def __init__(self, inner: Partition) -> None:
        super().__init__(
            index=inner.index,
            start=inner.start,
            stop=inner.stop,
            sig_shape=inner.sig_shape,
            dtype=inner.dtype,
        )
        self.inner = inner
        self.reads: list[tuple[int, int]] = []

    def read(self, start: int, stop: int) -> np.ndarray:
        self.reads.append((start, stop))
        return self.inner.read(start, stop)


def frames(dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(SIG[0]), 3 * np.arange(SIG[1]))  # asymmetric
    data = rng.integers(0, 90, size=(N, *SIG)) + ramp
    return data.astype(dtype)


def partition(tmp_path: Path, data: np.ndarray, *, count: int = 4, index: int = 2) -> Partition:
    path = tmp_path / f"data-{data.dtype.str[0]}{data.dtype.str[1:]}.raw"
    path.write_bytes(data.tobytes())
    ds = RawDataSet.open(str(path), nav_shape=[N], sig_shape=list(SIG), dtype=data.dtype.str)
    return ds.partitions(count=count)[index]


def masks_for_test(density: float, dtype: Any = np.float32, count: int = 3) -> np.ndarray:
    rng = np.random.default_rng(5)
    values = rng.random((count, *SIG)) * (rng.random((count, *SIG)) < density)
    return values.astype(dtype)


def reference(data: np.ndarray, part: Partition, stack: np.ndarray) -> np.ndarray:
    rows = data[part.start : part.stop].astype(np.float64)
    return np.einsum("nij,mij->nm", rows, stack.astype(np.float64))


def band_masks(count: int) -> np.ndarray:
    """``count`` masks touching only rows 5-13 of the frame (a span inside it)."""
    stack = np.zeros((count, *SIG), np.float32)
    rng = np.random.default_rng(8)
    stack[:, 5:14, 3:] = rng.random((count, 9, SIG[1] - 3))
    return stack


@pytest.mark.parametrize("tile_frames", [1, 3, 7, 22, 23, 100, None])
@pytest.mark.parametrize("dtype", ["<u2", ">i4", "<f4", ">f4", "<f8"])
@pytest.mark.parametrize("count", [1, 3, 5])  # GEMV per mask (converted tiles) and GEMM
@pytest.mark.parametrize("make", ["random", "band"])
def test_products_equal_numpy_for_any_tile_size_kernel_and_span(
    tmp_path: Path, dtype: str, tile_frames: int | None, count: int, make: str
) -> None:
    data = frames(dtype)
    part = partition(tmp_path, data)
    assert part.n_frames == 23  # 91 frames in 4 partitions: 23 does not divide by most tiles
    stack = masks_for_test(0.05, count=count) if make == "random" else band_masks(count)
    masks = MaskStack(stack)
    if make == "band":
        assert masks.span == (5 * SIG[1] + 3, 14 * SIG[1])
    got = apply_masks(part, masks, tile_frames=tile_frames)
    want = reference(data, part, stack)
    wide = dtype == "<f8"
    assert got.shape == (23, count) and got.dtype == (np.float64 if wide else np.float32)
    rtol = 1e-12 if wide else 1e-5
    assert np.abs(got - want).max() <= rtol * np.abs(want).max()


def test_masks_touching_no_pixel_give_zeros(tmp_path: Path) -> None:
    part = partition(tmp_path, frames("<u2"))
    got = apply_masks(part, MaskStack(np.zeros((2, *SIG))))
    np.testing.assert_array_equal(got, np.zeros((part.n_frames, 2)))


def test_float64_masks_compute_in_float64(tmp_path: Path) -> None:
    data = frames("<u2")
    part = partition(tmp_path, data)
    stack = masks_for_test(0.5, np.float64)
    got = apply_masks(part, MaskStack(stack))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference(data, part, stack), rtol=1e-12)


def test_rows_outside_the_roi_are_nan_and_not_read(tmp_path: Path) -> None:
    data = frames("<u2")
    part = CountingPartition(partition(tmp_path, data))
    roi = np.zeros(part.n_frames, bool)
    roi[[0, 1, 2, 9, 15, 16, 22]] = True
    stack = masks_for_test(0.05)
    got = apply_masks(part, MaskStack(stack), roi=roi, tile_frames=2)
    assert np.isnan(got[~roi]).all()
    np.testing.assert_allclose(got[roi], reference(data, part, stack)[roi], rtol=1e-5)
    s = part.start
    assert part.reads == [
        (s, s + 2),
        (s + 2, s + 3),
        (s + 9, s + 10),
        (s + 15, s + 17),
        (s + 22, s + 23),
    ]


@pytest.mark.parametrize("operation", ["apply_masks", "sum_frames"])
def test_should_stop_cancels_at_the_next_tile(tmp_path: Path, operation: str) -> None:
    part = CountingPartition(partition(tmp_path, frames("<u2")))
    checks: list[int] = []

    def should_stop() -> bool:
        checks.append(len(part.reads))
        return len(part.reads) >= 3

    with pytest.raises(JobCancelled):
        if operation == "apply_masks":
            apply_masks(
                part, MaskStack(masks_for_test(1.0)), tile_frames=4, should_stop=should_stop
            )
        else:
            sum_frames(part, tile_frames=4, should_stop=should_stop)
    assert len(part.reads) == 3  # checked before every tile; the fourth was never read
    assert checks == [0, 1, 2, 3]


@pytest.mark.parametrize("tile_frames", [1, 5, None])
@pytest.mark.parametrize("dtype", ["|u1", "|i1", "<u2", ">u2", "<i2", "<i4", "<f4", ">f8"])
def test_sum_frames_sums_counts_and_takes_the_maximum(
    tmp_path: Path, dtype: str, tile_frames: int | None
) -> None:
    data = frames(dtype)
    part = partition(tmp_path, data, index=1)
    roi = np.arange(part.n_frames) % 3 != 1
    total, peak, count = sum_frames(part, roi=roi, tile_frames=tile_frames)
    rows = data[part.start : part.stop][roi].astype(np.float64).reshape(-1, SIG[0] * SIG[1])
    assert total.dtype == peak.dtype == np.float64 and total.shape == (SIG[0] * SIG[1],)
    assert count == roi.sum()
    np.testing.assert_allclose(total, rows.sum(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(peak, rows.max(axis=0))


@pytest.mark.parametrize("dtype", ["<u2", "<f4", ">f8", "<i4"])
def test_sum_frames_without_the_maximum_gives_the_same_sum(tmp_path: Path, dtype: str) -> None:
    data = frames(dtype)
    part = partition(tmp_path, data, index=1)
    roi = np.arange(part.n_frames) % 4 != 2
    total, _peak, count = sum_frames(part, roi=roi, tile_frames=6)
    alone, peak, alone_count = sum_frames(part, roi=roi, tile_frames=6, maximum=False)
    assert peak is None and alone_count == count == roi.sum()
    np.testing.assert_array_equal(alone, total)  # compiled or numpy, the same bits
    rows = data[part.start : part.stop][roi].astype(np.float64).reshape(count, -1)
    np.testing.assert_allclose(alone, rows.sum(axis=0), rtol=1e-6)


def test_sum_frames_propagates_nan_into_the_sum_and_the_maximum(tmp_path: Path) -> None:
    data = frames("<f4")
    part = partition(tmp_path, data, index=1)
    data[part.start + 3, 4, 5] = np.nan
    data[part.start + 7, 0, 0] = -np.inf
    part = partition(tmp_path, data, index=1)
    total, peak, _count = sum_frames(part)
    rows = data[part.start : part.stop].astype(np.float64).reshape(part.n_frames, -1)
    np.testing.assert_array_equal(total, rows.sum(axis=0))  # NaN and -inf where numpy has them
    np.testing.assert_array_equal(peak, rows.max(axis=0))
    assert np.isnan(peak[4 * SIG[1] + 5]) and np.isfinite(peak[0])


def test_sum_frames_of_no_frame_is_empty(tmp_path: Path) -> None:
    part = partition(tmp_path, frames("<u2"))
    total, peak, count = sum_frames(part, roi=np.zeros(part.n_frames, bool))
    assert count == 0 and not total.any() and np.isneginf(peak).all()


@pytest.mark.parametrize("dtype", ["<u2", ">i2", ">f8"])
def test_read_frame_returns_the_frame_in_its_dtype(tmp_path: Path, dtype: str) -> None:
    data = frames(dtype)
    part = partition(tmp_path, data)
    got = read_frame(part, part.start + 5)
    assert got.shape == SIG and got.dtype == data.dtype
    np.testing.assert_array_equal(got, data[part.start + 5])
    with pytest.raises(IndexError, match="partition 2"):
        read_frame(part, part.stop)


@pytest.mark.parametrize(
    ("data", "masks", "expected"),
    [
        ("|i1", None, np.float32),
        (">u4", None, np.float32),
        ("<f4", "float32", np.float32),
        (">f8", "float32", np.float64),
        ("<u2", "float64", np.float64),
    ],
)
def test_compute_dtype_follows_the_contract(data: str, masks: str | None, expected: type) -> None:
    assert compute_dtype(np.dtype(data), None if masks is None else np.dtype(masks)) == expected


def test_aligned_empty_is_page_aligned() -> None:
    for shape in [(3, 5), (1,), (7, 1551)]:
        arr = aligned_empty(shape, np.dtype(np.float32))
        assert arr.shape == shape and arr.ctypes.data % 4096 == 0 and arr.flags.c_contiguous


@pytest.mark.parametrize("dtype", [">u2", ">i4", "<f8"])  # those BLAS multiplies
def test_apply_masks_on_the_bounding_box_of_converted_frames_matches_numpy(
    tmp_path: Path, dtype: str
) -> None:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 1000, size=(23, 16, 20)).astype(dtype)
    path = tmp_path / "box.raw"
    data.tofile(path)
    ds = RawDataSet.open(str(path), nav_shape=[23], sig_shape=[16, 20], dtype=dtype)
    stack = np.zeros((3, 16, 20), np.float32)
    stack[0, 5:9, 6:11] = 1
    stack[1, 6, 7] = 2.5
    stack[2, 8, 10:12] = rng.random(2)
    masks = MaskStack(stack)
    assert masks.box == (5, 9, 6, 12)
    got = np.concatenate([apply_masks(p, masks, tile_frames=4) for p in ds.partitions(count=2)])
    expected = data.reshape(23, -1).astype(np.float64) @ stack.reshape(3, -1).T.astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_the_compiled_product_of_a_stack_is_made_once_and_not_pickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from apps.core import kernels

    made: list[int] = []
    real = kernels.MaskProduct

    def counting(weights: np.ndarray, **options: Any) -> Any:
        made.append(weights.shape[0])
        return real(weights, **options)

    monkeypatch.setattr(kernels, "MaskProduct", counting)
    data = frames("<u2")
    path = tmp_path / "data.raw"
    path.write_bytes(data.tobytes())
    ds = RawDataSet.open(str(path), nav_shape=[N], sig_shape=list(SIG), dtype="<u2")
    stack = masks_for_test(0.3, count=5)
    masks = MaskStack(stack)
    for part in ds.partitions(count=4):
        got = apply_masks(part, masks)
        want = reference(data, part, stack)
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert made == [5]  # one product for the four partitions
    copy = pickle.loads(pickle.dumps(masks))
    apply_masks(ds.partitions(count=4)[0], copy)
    assert made == [5, 5]  # a worker's copy makes its own
    with kernels.threads(kernels.thread_count() + 1):
        apply_masks(ds.partitions(count=4)[0], masks)
    assert made == [5, 5, 5]  # and one per thread count
