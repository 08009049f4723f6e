"""The compiled mask product against a float64 numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from apps.core import kernels, masks_jit, masks_lanes_jit

#: Every loop, whatever the host: (masks per block, frames per block).
LOOPS = [(2, None), (4, None), (16, 6), (16, 8)]


def product(
    data: np.ndarray,
    weights: np.ndarray,
    threads: int = 1,
    block: int | None = None,
    frames: int | None = None,
) -> np.ndarray:
    out = np.full((data.shape[0], weights.shape[0]), np.nan, np.float32)
    with kernels.threads(threads):
        loop = kernels.MaskProduct(weights, masks_per_block=block, frames_per_block=frames)
        loop(data, out)
    return out


def check(got: np.ndarray, data: np.ndarray, weights: np.ndarray, rtol: float = 1e-6) -> None:
    want = data.astype(np.float64) @ weights.astype(np.float64).T
    scale = np.abs(want).max()  # the numerical contract's tolerance is relative to this
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= rtol * scale, np.abs(got - want).max() / scale


def contract(block: int | None) -> float:
    """The tolerance a loop is held to: the lanes' loops (``block`` 16) sum each lane's pixels
    one after the other in float32 over up to 1024 pixels, not in sixteen partial sums, and
    measured up to 1.03e-6 on full-range uint16 frames times zero-mean masks; they are held to
    the numerical contract's 1e-5 (DESIGN.md), the others to 1e-6."""
    return 1e-5 if block == 16 else 1e-6


@pytest.mark.parametrize(("block", "per_block"), LOOPS)
@pytest.mark.parametrize("dtype", ["|u1", "|i1", "<u2", "<i2", "<f4"])
@pytest.mark.parametrize("frames", [1, 5, 6, 7, 9, 13, 61])
@pytest.mark.parametrize("masks", [1, 3, 4, 9, 16, 17, 33])
def test_it_equals_numpy_for_any_frame_and_mask_count(
    dtype: str, frames: int, masks: int, block: int, per_block: int | None
) -> None:
    rng = np.random.default_rng(frames * 10 + masks)
    kind = np.dtype(dtype).kind
    lo, hi = (np.iinfo(dtype).min, np.iinfo(dtype).max) if kind in "iu" else (-1e3, 1e3)
    data = rng.uniform(lo, hi, size=(frames, 203)).astype(dtype)
    weights = rng.standard_normal((masks, 203)).astype(np.float32)
    got = product(data, weights, block=block, frames=per_block)
    check(got, data, weights, contract(block))


@pytest.mark.parametrize(
    ("masks", "lanes"),
    [
        (3, False),
        (7, False),
        (masks_lanes_jit.MIN_MASKS - 1, False),
        (masks_lanes_jit.MIN_MASKS, True),
        (16, True),
    ],
)
def test_many_masks_take_the_lanes_loop(masks: int, lanes: bool) -> None:
    loop = kernels.MaskProduct(np.ones((masks, 40), np.float32))
    assert (loop._product in masks_lanes_jit.PRODUCTS.values()) is lanes


def test_integer_tiles_keep_the_loop_of_a_few_masks() -> None:
    # The lanes' loop converts each integer pixel alone: uint16, 16 masks, 3.9 against 4.6 GB/s.
    loop = kernels.MaskProduct(np.ones((16, 40), np.float32), floats=False)
    assert loop._product in masks_jit.PRODUCTS.values()


@pytest.mark.parametrize(("frames", "masks"), [(8, 8), (6, 12)])
def test_the_lanes_start_where_they_beat_the_host_loop_of_a_few_masks(
    frames: int, masks: int
) -> None:
    # AVX2's six by two masks measured faster than the lanes below ten masks.
    assert masks_lanes_jit.min_masks(frames) == masks


@pytest.mark.parametrize(
    ("features", "frames"),
    [("+avx,+avx2,+fma,-avx512f,-avx512bw", 6), ("+avx2,+avx512f,+avx512bw,+avx512vl", 8)],
)
def test_the_host_vector_registers_choose_the_lanes_block(features: str, frames: int) -> None:
    # Eight frames' sums take sixteen AVX2 registers, all of them: spilled.
    assert masks_lanes_jit.frames_per_block(features) == frames


@pytest.mark.parametrize(
    ("features", "block"),
    [("+avx,+avx2,+fma,-avx512f,-avx512bw", 2), ("+avx2,+avx512f,+avx512bw,+avx512vl", 4)],
)
def test_the_host_vector_registers_choose_the_block(features: str, block: int) -> None:
    # Six frames by four masks needs 29 vector registers: spilled on AVX2's 16.
    assert masks_jit.masks_per_block(features) == block


@pytest.mark.parametrize(("block", "per_block"), LOOPS)
@pytest.mark.parametrize("threads", [1, 2])
def test_it_reads_rows_longer_than_a_block_of_pixels(
    block: int, per_block: int | None, threads: int
) -> None:
    rng = np.random.default_rng(2)
    width = 2 * max(masks_jit.PIXELS, masks_lanes_jit.PIXELS) + 37
    data = rng.random((19, width), dtype=np.float32)
    weights = rng.random((5 if block < 16 else 18, width), dtype=np.float32)
    got = product(data, weights, threads=threads, block=block, frames=per_block)
    check(got, data, weights)


@pytest.mark.parametrize("per_block", sorted(masks_lanes_jit.PRODUCTS))
@pytest.mark.parametrize("masks", [16, 33])  # one chunk of masks, or three
def test_lanes_prefetching_the_next_frames_keep_every_sum(per_block: int, masks: int) -> None:
    # Frames of a map's span (rows a frame apart), blocks of frames each prefetching the next
    # block's pixels, runs of pixels longer than a block and a last line shorter than LINE.
    rng = np.random.default_rng(per_block + masks)
    width = 2 * masks_lanes_jit.PIXELS + 3 * masks_lanes_jit.LINE + 5
    frames = rng.standard_normal((6 * per_block, width + 40)).astype(np.float32)
    frames.flags.writeable = False
    view = frames[:, 21 : 21 + width]
    weights = rng.standard_normal((masks, width)).astype(np.float32)
    got = product(view, weights, block=16, frames=per_block)
    check(got, view, weights, contract(16))


@pytest.mark.parametrize("block", sorted(masks_jit.PRODUCTS))
@pytest.mark.parametrize("masks", [2, 4, 9])  # one group of masks (no spans), or several
def test_it_sums_spans_of_a_block_and_the_short_last_one(block: int, masks: int) -> None:
    rng = np.random.default_rng(masks)
    width = 3 * masks_jit.SPAN + 11
    data = rng.standard_normal((13, width)).astype(np.float32)
    weights = rng.standard_normal((masks, width)).astype(np.float32)
    check(product(data, weights, block=block), data, weights)


def test_it_reads_strided_read_only_views() -> None:
    # A span of each frame of a memory map: rows apart by the frame, not the span.
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 4000, size=(40, 300)).astype(np.uint16)
    frames.flags.writeable = False
    view = frames[::3, 17:250]
    for masks in (4, 16):
        weights = rng.random((masks, 233), dtype=np.float32)
        check(product(view, weights), view, weights)


def test_it_copies_rows_that_are_not_contiguous() -> None:
    rng = np.random.default_rng(4)
    frames = rng.random((20, 64), dtype=np.float32)
    view = frames[:, ::2]  # every other pixel: not one flat range per row
    weights = rng.random((4, 32), dtype=np.float32)
    check(product(view, weights), view, weights)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_split_the_frames_and_write_every_row(threads: int) -> None:
    rng = np.random.default_rng(threads)
    data = rng.random((301, 97), dtype=np.float32)
    weights = rng.random((16, 97), dtype=np.float32)
    out = product(data, weights, threads)
    assert not np.isnan(out).any()
    check(out, data, weights)


def test_it_writes_into_a_strided_result() -> None:
    # apply_masks passes a transposed view of its (masks, frames) result.
    rng = np.random.default_rng(5)
    data = rng.random((10, 50), dtype=np.float32)
    weights = rng.random((3, 50), dtype=np.float32)
    out_t = np.full((3, 12), np.nan, np.float32)
    kernels.MaskProduct(weights)(data, out_t[:, 1:11].T)
    assert np.isnan(out_t[:, [0, 11]]).all()
    check(out_t[:, 1:11].T, data, weights)


@pytest.mark.parametrize(
    ("data", "compute", "count", "takes"),
    [
        ("<f4", "<f4", 16, True),
        ("<f4", "<f4", 2, True),
        ("<f4", "<f4", 1, False),  # one mask: BLAS's GEMV on the span is faster
        ("<u2", "<f4", 1, True),
        ("|u1", "<f4", 3, True),
        (">u2", "<f4", 3, False),  # foreign byte order
        ("<u4", "<f4", 3, False),
        ("<f4", "<f8", 3, False),  # float64 masks: float64 products
        ("<f8", "<f8", 3, False),
    ],
)
def test_it_takes_float32_products_of_the_dtypes_it_reads(
    data: str, compute: str, count: int, takes: bool
) -> None:
    assert kernels.can_multiply(np.dtype(data), np.dtype(compute), count) is takes


def test_a_nan_in_a_frame_makes_only_that_frames_results_nan() -> None:
    rng = np.random.default_rng(6)
    data = rng.random((8, 40), dtype=np.float32)
    data[2, 17] = np.nan
    data[7, 3] = np.inf  # in the padded tail of the loop's blocks of six frames
    weights = rng.random((5, 40), dtype=np.float32) + 0.1
    out = product(data, weights)
    assert np.isnan(out[2]).all() and np.isposinf(out[7]).all()
    keep = [0, 1, 3, 4, 5, 6]
    check(out[keep], data[keep], weights)
