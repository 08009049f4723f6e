"""The many-mask product of CSR events in float64 lanes (apps.core.csr_lanes_jit).

Masks with fractions and counts of several dtypes: the sums are not exact, so they must
equal, to the bit, the same sums taken event after event in Python floats (each product and
each sum rounded, as the scalar loop did), on the four-frame path and the frame-by-frame
one alike.
"""

from __future__ import annotations

import numpy as np
import pytest

from apps.core import csr_lanes_jit
from apps.core.lanes_jit import WIDTH

C = 256
LO, HI = 80, 176  # the masks' span


def frames(seed: int, dtype: type) -> list[list[tuple[int, float]]]:
    """Thirteen frames (not a multiple of four): rising ones on every edge, empty ones, one
    that falls and repeats a pixel, and events outside the frame in a falling frame and in
    a rising one among four rising ones."""
    rng = np.random.default_rng(seed)
    edges = [0, 79, 80, 81, 175, 176, 177, C - 1]
    out: list[list[tuple[int, float]]] = []
    for n in (0, 1, 3, 40, 200, 0, 90, 17, 5, 30):
        pixels = np.unique(np.concatenate([rng.integers(0, C, n), rng.choice(edges, 2)]))
        out.append([(int(p), count(rng, dtype)) for p in pixels])
    out.insert(6, [(150, count(rng, dtype)), (90, 2.0), (90, 3.0), (-1, 1.0), (C, 1.0)])
    out.append([(-3, 1.0), (100, count(rng, dtype)), (C + 4, 1.0)])
    out.append([])
    return out


def count(rng: np.random.Generator, dtype: type) -> float:
    if np.dtype(dtype).kind == "f":
        return float(np.float32(rng.random() * 300))
    return float(rng.integers(1, np.iinfo(dtype).max, endpoint=True))


def in_order(rows: list[list[tuple[int, float]]], matrix: np.ndarray) -> np.ndarray:
    """Each frame's sums event after event in Python floats (IEEE float64, not fused)."""
    out = np.zeros((len(rows), matrix.shape[1]), np.float64)
    for r, row in enumerate(rows):
        for q in range(matrix.shape[1]):
            acc = 0.0
            for p, v in row:
                if LO <= p < HI:
                    acc += v * float(matrix[p - LO, q])
            out[r, q] = acc
    return out


@pytest.mark.parametrize("count_masks", [5, 16, 17, 33])
@pytest.mark.parametrize("values_dtype", [np.uint8, np.uint16, np.int32, np.float32])
@pytest.mark.parametrize("weights_dtype", [np.float32, np.float64])
def test_it_sums_each_frame_in_its_events_order(
    count_masks: int, values_dtype: type, weights_dtype: type
) -> None:
    rows = frames(seed=count_masks, dtype=values_dtype)
    rng = np.random.default_rng(count_masks)
    matrix = (rng.standard_normal((HI - LO, count_masks)) * 3).astype(weights_dtype)
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    indices = np.array([p for r in rows for p, _ in r], np.int32)
    values = np.array([v for r in rows for _, v in r], values_dtype)
    out = np.full((len(rows), count_masks), np.nan)
    weights = csr_lanes_jit.lane_weights(matrix)
    bad = csr_lanes_jit.product(indptr, indices, values, weights, LO, C, out)
    assert bad == 4
    expected = in_order(rows, matrix)
    np.testing.assert_array_equal(out, expected)
    assert np.count_nonzero(expected) > 8 * count_masks
    assert not np.array_equal(expected, np.round(expected))  # fractions: no order is exact


def test_it_pads_the_weights_to_whole_chunks_on_a_cache_line() -> None:
    matrix = np.arange(3 * 17, dtype=np.float32).reshape(3, 17)
    flat = csr_lanes_jit.lane_weights(matrix)
    assert flat.shape == (3 * 2 * WIDTH,) and flat.ctypes.data % csr_lanes_jit.ALIGN == 0
    rows = flat.reshape(3, 2 * WIDTH)
    np.testing.assert_array_equal(rows[:, :17], matrix)
    assert not rows[:, 17:].any()


def test_it_fuses_only_where_every_product_is_exact() -> None:
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    for values in (np.uint8, np.int16, np.uint16, np.float32):
        assert csr_lanes_jit.fuses(f32, np.dtype(values))
    for values in (np.int32, np.uint32, np.uint64, np.float64):
        assert not csr_lanes_jit.fuses(f32, np.dtype(values))
    assert not csr_lanes_jit.fuses(f64, np.dtype(np.uint8))
