"""The compiled mask products over CSR events (apps.core.csr_jit) against numpy's dense product.

The loops read only the run of a frame's events that can lie in the masks' span, found by
a survey of each frame where pixels do not fall. These tests put events where that can go wrong: on the frame's
first and last pixel, just outside and on the edges of the span, in empty frames, in frames
whose pixels do not rise (a pixel below the span after one inside it) and outside the frame.
Masks and counts are integers, so every order of the float64 sums is exact and the products
must equal numpy's to the bit, summed in floats or (where the Core allows it) in integers.
"""

from __future__ import annotations

import numpy as np
import pytest

from apps.core import csr_jit
from apps.core.io.csr import CSRBlock
from apps.core.masks import MaskStack
from apps.core.sparse_ops import _product_for, _whole_for, block_loop

SIG = (16, 16)
C = SIG[0] * SIG[1]


def csr(
    rows: list[list[tuple[int, int]]], counts: type = np.uint8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indptr, indices (int32) and values (``counts``) of frames of ``(pixel, count)`` lists."""
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    indices = np.array([p for r in rows for p, _ in r], np.int32)
    values = np.array([v for r in rows for _, v in r], counts)
    return indptr, indices, values


def dense(rows: list[list[tuple[int, int]]]) -> np.ndarray:
    out = np.zeros((len(rows), C), np.float64)
    for i, r in enumerate(rows):
        for p, v in r:
            out[i, p] += v
    return out


def band_masks(count: int, seed: int) -> MaskStack:
    """``count`` integer masks over rows 5-10 (span 80-176), an empty pixel or two inside."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, *SIG), np.float32)
    masks[:, 5:11] = rng.integers(-3, 4, size=(count, 6, SIG[1]))
    masks[:, 5, 0] = 1  # the span starts at (5, 0) and ends at (10, 15)
    masks[:, 10, -1] = 2
    return MaskStack(masks)


def products(
    rows: list[list[tuple[int, int]]],
    stack: MaskStack,
    *,
    whole: bool = True,
    counts: type = np.uint8,
) -> tuple[np.ndarray, int]:
    """The product the Core picks for ``stack`` (as apps.core.sparse_ops does), float32;
    ``whole``: the sums in integers where the Core allows it, else in floats."""
    chosen = _product_for(stack, np.dtype(np.float32))
    product, weights, ints = chosen
    out = np.full((len(rows), stack.count), np.nan, np.float32)
    indptr, indices, values = csr(rows, counts)
    block = CSRBlock(0, indptr, indices, values)
    if ints is not None:  # integer masks and counts
        assert _whole_for(block, *ints).shape[0] > 0 or stack.span == (0, 0)
    loop, arrays = block_loop(stack, chosen, block, C)
    if ints is not None and not whole:
        loop, arrays = product, (weights, ints[0][:0], stack.span[0])
    bad = loop(indptr, indices, values, *arrays, C, out)
    return out, int(bad)


def frames(seed: int) -> list[list[tuple[int, int]]]:
    """Frames with rising pixels, also on every edge: the frame's, the span's (80, 176)."""
    rng = np.random.default_rng(seed)
    edges = [0, 79, 80, 81, 175, 176, 177, C - 1]
    out: list[list[tuple[int, int]]] = [[]]  # an empty frame first
    for n in (1, 3, 40, 200):
        pixels = np.unique(np.concatenate([rng.integers(0, C, n), rng.choice(edges, 3)]))
        out.append([(int(p), int(rng.integers(1, 255))) for p in pixels])
    out.append([])  # one in the middle
    out.append([(80, 7)])  # the span's first pixel alone
    out.append([(175, 9)])  # and its last
    out.append([(0, 1), (C - 1, 2)])  # both outside the span, on the frame's edges
    out.append([])  # and the last
    return out


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 9, 16, 17, 33])
@pytest.mark.parametrize("whole", [True, False])
def test_products_over_rising_pixels_equal_numpy(count: int, whole: bool) -> None:
    rows = frames(seed=count)
    stack = band_masks(count, seed=count)
    got, bad = products(rows, stack, whole=whole)
    expected = dense(rows) @ stack.masks().reshape(count, C).T.astype(np.float64)
    assert bad == 0
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert np.abs(expected).max() > 0  # the frames do meet the masks


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 9, 16, 17, 33])
@pytest.mark.parametrize("whole", [True, False])
def test_frames_whose_pixels_do_not_rise_are_read_whole(count: int, whole: bool) -> None:
    """A pixel in the span before one below it, one above the span before one inside it,
    repeated pixels: the span's events are no single run there; the products must not
    miss any."""
    rows = [
        [(100, 3), (20, 5), (150, 1)],  # below the span after one inside
        [(200, 2), (90, 4), (90, 6)],  # above the span before one inside, a pixel twice
        [(175, 1), (80, 2), (250, 3), (0, 4)],
        [(120, 9), (119, 8), (118, 7)],  # falling, all inside
        [],
    ]
    stack = band_masks(count, seed=10 + count)
    got, bad = products(rows, stack, whole=whole)
    expected = dense(rows) @ stack.masks().reshape(count, C).T.astype(np.float64)
    assert bad == 0
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert np.count_nonzero(expected) > count


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 9, 16, 17, 33])
@pytest.mark.parametrize(
    ("row", "outside"),
    [
        ([(-5, 1), (90, 2), (C, 3), (C + 9, 4)], 3),  # rising: before and after the run
        ([(90, 2), (-1, 1), (C + 1, 1)], 2),  # not rising: the whole frame is checked
        ([(-3, 1), (-2, 1)], 2),  # all below the frame
        ([(90, 2), (C, 1)], 1),  # one just past the frame's last pixel
    ],
)
@pytest.mark.parametrize("whole", [True, False])
def test_events_outside_the_frame_are_counted_once(
    count: int, row: list[tuple[int, int]], outside: int, whole: bool
) -> None:
    rows = [[(85, 1)], row, [(C - 1, 1)]]
    got, bad = products(rows, band_masks(count, seed=1), whole=whole)
    assert bad == outside
    inside = [[(p, v) for p, v in r if 0 <= p < C] for r in rows]
    stack = band_masks(count, seed=1)
    expected = dense(inside) @ stack.masks().reshape(count, C).T.astype(np.float64)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_one_mask_sums_in_int64_where_int32_could_overflow() -> None:
    """One mask of whole numbers is a table over the frame, summed in int32 where no frame's
    sum can reach 2**31 (8-bit counts here) and in int64 where it could (32-bit counts)."""
    stack = band_masks(1, seed=4)
    _, _, ints = _product_for(stack, np.dtype(np.float32))
    for counts, narrow, big in ((np.uint8, True, 255), (np.uint32, False, 4_000_000_000)):
        rows = [
            [(p, big - k) for k, p in enumerate(range(80, 176, 3))],
            [(0, 1), (90, big)],
            [(p, p % 7 + 1) for p in range(C)],  # more events than a chunk of the loop
        ]
        block = CSRBlock(0, *csr(rows, counts))
        loop, arrays = block_loop(stack, _product_for(stack, np.dtype(np.float32)), block, C)
        assert loop is csr_jit.product_table and arrays[1] is narrow
        assert ints is not None and _whole_for(block, *ints).shape[0] == 1
        got, bad = products(rows, stack, counts=counts)
        expected = dense(rows) @ stack.masks().reshape(1, C).T.astype(np.float64)
        assert bad == 0 and np.abs(expected).max() > (2**31 if not narrow else 0)
        np.testing.assert_array_equal(got, expected.astype(np.float32))


@pytest.mark.parametrize(("counts", "loop"), [(np.uint8, "bits"), (np.uint32, "table")])
def test_a_mask_of_zeros_and_ones_is_taken_as_bits(counts: type, loop: str) -> None:
    """A disk or ring (zeros and ones) is a table of bits where no frame's sum can reach
    2**31 (8-bit counts), else the int64 table: the same sums as numpy's on rising and
    falling frames, on the edges of the words of bits and of the frame, with the events
    outside the frame counted and not added."""
    masks = np.zeros(SIG, np.float32)
    masks.reshape(-1)[[0, 30, 31, 32, 33, 63, 64, 65, 100, 140, C - 2, C - 1]] = 1
    stack = MaskStack(masks)
    rows = [
        *frames(seed=40),
        [(p, 1 + p % 5) for p in range(C)],  # every pixel: more events than a chunk
        [(64, 3), (31, 5), (C - 1, 1), (32, 2)],  # falling
        [(-5, 1), (0, 2), (63, 4), (C, 3), (C + 9, 4)],  # rising, outside at both ends
        [(100, 2), (-1, 1), (C + 1, 1)],  # falling, outside
    ]
    block = CSRBlock(0, *csr(rows, counts))
    chosen = _product_for(stack, np.dtype(np.float32))
    product, arrays = block_loop(stack, chosen, block, C)
    assert product is (csr_jit.product_bits if loop == "bits" else csr_jit.product_table)
    if loop == "bits":
        words = arrays[0]
        assert words.shape == (C // 32 + 1,) and words[-1] == 0
        bits = np.unpackbits(words.view(np.uint8), bitorder="little")[:C]
        np.testing.assert_array_equal(bits, masks.reshape(-1))
    got, bad = products(rows, stack, counts=counts)
    inside = [[(p, v) for p, v in r if 0 <= p < C] for r in rows]
    expected = dense(inside) @ masks.reshape(1, C).T.astype(np.float64)
    assert bad == 5
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    every = sum(1 + p % 5 for p in np.flatnonzero(masks))  # the frame of every pixel
    assert got[len(frames(seed=40)), 0] == every


def test_a_mask_touching_nothing_gives_zeros() -> None:
    rows = frames(seed=5)
    stack = MaskStack(np.zeros(SIG, np.float32))
    got, bad = products(rows, stack)
    assert bad == 0 and stack.span == (0, 0)
    np.testing.assert_array_equal(got, np.zeros((len(rows), 1), np.float32))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 9, 16, 17, 33])
@pytest.mark.parametrize("whole", [True, False])
def test_a_span_on_the_frame_edges(count: int, whole: bool) -> None:
    """Masks on the first and the last pixel: the span is the whole frame."""
    masks = np.zeros((count, *SIG), np.float32)
    masks[:, 0, 0] = 2
    masks[:, -1, -1] = 3
    masks[:, 8, 8] = 1
    stack = MaskStack(masks)
    rows = frames(seed=20 + count)
    got, bad = products(rows, stack, whole=whole)
    expected = dense(rows) @ stack.masks().reshape(count, C).T.astype(np.float64)
    assert bad == 0 and stack.span == (0, C)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_the_survey_counts_what_the_products_rely_on() -> None:
    """``(falls, below, within, bad)``: where nothing falls, the span's events are one run
    (where some fall, the products read the whole frame and take ``falls`` alone)."""
    rising = np.array([-2, 3, 14, 15, 44, 45, 70], np.int32)
    assert csr_jit.survey(rising, 15, 45, 64) == (0, 3, 2, 2)
    assert csr_jit.survey(rising[1:6], 0, 64, 64) == (0, 0, 5, 0)
    assert csr_jit.survey(rising[:0], 15, 45, 64) == (0, 0, 0, 0)  # an empty frame
    assert csr_jit.survey(np.array([30, 3, 40, 40, 10], np.int32), 15, 35, 64)[0] == 2
    assert csr_jit.survey(np.array([5, 5, 5], np.uint16), 5, 6, 64) == (0, 0, 3, 0)


def block_of(values: np.ndarray, per_frame: int) -> CSRBlock:
    indices = np.tile(np.arange(per_frame, dtype=np.int32), 2)
    return CSRBlock(0, np.array([0, per_frame, 2 * per_frame]), indices, values)


def test_sums_are_taken_in_integers_only_where_they_stay_exact() -> None:
    """Integer counts of at most 32 bits, whole-number weights and no frame's sum reaching
    2**53 (where float64 sums stop being exact and the two would differ)."""
    ring_like = MaskStack(band_masks(1, seed=2).masks().astype(np.float32))
    rows = ring_like.span_rows(np.dtype(np.float32))
    _, _, ints = _product_for(ring_like, np.dtype(np.float32))
    assert ints is not None and ints[0].dtype == np.int32 and ints[1] == 3
    np.testing.assert_array_equal(ints[0], rows)
    counts = block_of(np.ones(20, np.uint8), 10)
    assert _whole_for(counts, *ints).shape[0] == 1
    for values in (np.ones(20, np.float32), np.ones(20, np.uint64)):
        assert _whole_for(block_of(values, 10), *ints).shape[0] == 0
    big = np.full((1, 4), 2.0**21, np.float32)  # 2**21 * (2**31 counts) * 2 events = 2**53
    assert _whole_for(block_of(np.ones(4, np.int32), 2), big.astype(np.int32), 2**21).size == 0
    assert _whole_for(block_of(np.ones(2, np.int32), 1), big.astype(np.int32), 2**21).size == 4
    fractional = MaskStack(np.full(SIG, 0.5, np.float32))
    assert _product_for(fractional, np.dtype(np.float32))[2][0].shape[0] == 0  # type: ignore[index]
    assert _product_for(band_masks(9, seed=2), np.dtype(np.float32))[2] is None  # many masks


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_the_sum_without_maximum_equals_numpy_on_every_edge(dtype: type) -> None:
    """Rising frames (also on the frame's first and last pixel, and empty ones), frames that
    fall or repeat a pixel, and events outside the frame (counted, not added)."""
    rows = [
        *frames(seed=30),
        [(100, 3), (20, 5), (150, 1)],
        [(90, 4), (90, 6), (0, 1)],
        [(-4, 1), (0, 2), (C - 1, 3), (C, 4)],  # rising, an event outside at both ends
        [(C + 2, 1), (7, 2), (-1, 3)],  # falling, outside at both ends
    ]
    indptr, indices, values = csr(rows)
    total = np.zeros(C, np.int64 if dtype == np.uint8 else np.float64)
    bad = csr_jit.sum_only(indptr, indices, values.astype(dtype), total)
    inside = [[(p, v) for p, v in r if 0 <= p < C] for r in rows]
    assert bad == 4
    np.testing.assert_array_equal(total, dense(inside).sum(axis=0))
    assert total[0] > 0 and total[C - 1] > 0
