"""Mask geometry (property tests against the defining inequalities) and mask stacks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core import masks
from apps.core.masks import MaskStack

sig_shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
# Centres and radii on a quarter-pixel grid hit pixel centres exactly (the boundary cases),
# mixed with arbitrary floats; centres may lie outside the frame.
quarters = st.integers(-40, 120).map(lambda q: q / 4)
coords = st.one_of(quarters, st.floats(-10, 30, allow_nan=False))
radii = st.one_of(st.integers(0, 64).map(lambda q: q / 4), st.floats(0, 20, allow_nan=False))


def inequality(sig: tuple[int, int], test) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The mask defined pixel by pixel with Python floats."""
    return np.array(
        [[1.0 if test(float(y), float(x)) else 0.0 for x in range(sig[1])] for y in range(sig[0])]
    )


@settings(max_examples=150, deadline=None)
@given(sig=sig_shapes, cy=coords, cx=coords, r=radii)
def test_disk_is_the_inequality(sig: tuple[int, int], cy: float, cx: float, r: float) -> None:
    got = masks.disk(sig, cy=cy, cx=cx, r=r)
    assert got.dtype == np.float32 and got.shape == sig
    want = inequality(sig, lambda y, x: (y - cy) ** 2 + (x - cx) ** 2 <= r * r)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=150, deadline=None)
@given(sig=sig_shapes, cy=coords, cx=coords, a=radii, b=radii)
def test_ring_is_disk_minus_disk(
    sig: tuple[int, int], cy: float, cx: float, a: float, b: float
) -> None:
    ri, ro = min(a, b), max(a, b)
    got = masks.ring(sig, cy=cy, cx=cx, ri=ri, ro=ro)
    want = inequality(sig, lambda y, x: ri * ri < (y - cy) ** 2 + (x - cx) ** 2 <= ro * ro)
    np.testing.assert_array_equal(got, want)
    difference = masks.disk(sig, cy=cy, cx=cx, r=ro) - masks.disk(sig, cy=cy, cx=cx, r=ri)
    np.testing.assert_array_equal(got, difference)


@settings(max_examples=150, deadline=None)
@given(
    sig=sig_shapes,
    y=st.integers(-30, 30),
    x=st.integers(-30, 30),
    height=st.integers(0, 40),
    width=st.integers(0, 40),
)
def test_rectangle_area_is_the_clipped_area(
    sig: tuple[int, int], y: int, x: int, height: int, width: int
) -> None:
    got = masks.rectangle(sig, y=y, x=x, height=height, width=width)
    rows = max(0, min(y + height, sig[0]) - max(y, 0))
    cols = max(0, min(x + width, sig[1]) - max(x, 0))
    assert got.sum() == rows * cols
    want = inequality(sig, lambda py, px: y <= py < y + height and x <= px < x + width)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=150, deadline=None)
@given(
    sig=sig_shapes,
    cy=coords,
    cx=coords,
    ri=radii,
    width=st.one_of(st.integers(1, 40).map(lambda q: q / 4), st.floats(0.01, 20)),
    bins=st.integers(1, 12),
)
def test_radial_bins_partition_the_ring(
    sig: tuple[int, int], cy: float, cx: float, ri: float, width: float, bins: int
) -> None:
    ro = ri + width
    got = masks.radial_bins(sig, cy=cy, cx=cx, ri=ri, ro=ro, bins=bins)
    assert got.shape == (bins, *sig) and set(np.unique(got)) <= {0.0, 1.0}
    # no overlap, and together exactly the ring
    np.testing.assert_array_equal(got.sum(axis=0), masks.ring(sig, cy=cy, cx=cx, ri=ri, ro=ro))
    # pixel by pixel: bin k holds edges[k] < d <= edges[k+1]
    edges = np.linspace(ri, ro, bins + 1)
    d2 = np.add.outer((np.arange(sig[0]) - cy) ** 2, (np.arange(sig[1]) - cx) ** 2)
    for k in range(bins):
        inside = (d2 > edges[k] ** 2) & (d2 <= edges[k + 1] ** 2)
        np.testing.assert_array_equal(got[k], inside)


def test_radial_bins_of_integer_edges() -> None:
    got = masks.radial_bins((11, 11), cy=5, cx=5, ri=0, ro=4, bins=2)
    assert got[0, 5, 5] == 0  # d = 0 is not > ri = 0
    assert got[0, 5, 7] == 1 and got[1, 5, 7] == 0  # d = 2: the edge belongs to the inner bin
    assert got[1, 5, 9] == 1 and got[1, 5, 10] == 0  # d = 4 = ro inside, d = 5 outside


@settings(max_examples=150, deadline=None)
@given(
    sig=sig_shapes,
    y=st.integers(-5, 25),
    x=st.integers(-5, 25),
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    clockwise=st.booleans(),
)
def test_polygon_of_a_rectangle_is_the_rectangle(
    sig: tuple[int, int], y: int, x: int, height: int, width: int, clockwise: bool
) -> None:
    corners = [[y, x], [y, x + width], [y + height, x + width], [y + height, x]]
    if clockwise:
        corners.reverse()
    got = masks.polygon(sig, points=corners)
    np.testing.assert_array_equal(got, masks.rectangle(sig, y=y, x=x, height=height, width=width))


def pnpoly(points: list[list[float]], py: float, px: float) -> bool:
    """W. R. Franklin's crossing-number test."""
    inside, j = False, len(points) - 1
    for i in range(len(points)):
        (yi, xi), (yj, xj) = points[i], points[j]
        if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


@settings(max_examples=100, deadline=None)
@given(
    sig=sig_shapes,
    points=st.lists(st.tuples(quarters, quarters), min_size=3, max_size=7),
)
def test_polygon_is_the_even_odd_crossing_test(
    sig: tuple[int, int], points: list[tuple[float, float]]
) -> None:
    pts = [list(p) for p in points]
    got = masks.polygon(sig, points=pts)
    np.testing.assert_array_equal(got, inequality(sig, lambda y, x: pnpoly(pts, y, x)))


def test_polygon_selects_pixel_centres_of_a_fractional_rectangle() -> None:
    got = masks.polygon((8, 9), points=[[0.5, 1.5], [0.5, 4.2], [3.0, 4.2], [3.0, 1.5]])
    want = np.zeros((8, 9))
    want[1:3, 2:5] = 1  # centres y in [0.5, 3), x in [1.5, 4.2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (masks.point, {"y": 5, "x": 0}),
        (masks.point, {"y": -1, "x": 0}),
        (masks.disk, {"cy": 0, "cx": 0, "r": -1}),
        (masks.ring, {"cy": 0, "cx": 0, "ri": 3, "ro": 2}),
        (masks.rectangle, {"y": 0, "x": 0, "height": -1, "width": 2}),
        (masks.polygon, {"points": [[0, 0], [1, 1]]}),
        (masks.radial_bins, {"cy": 0, "cx": 0, "ri": 0, "ro": 3, "bins": 0}),
    ],
)
def test_factories_refuse_impossible_geometry(factory, kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        factory((5, 6), **kwargs)


def test_point_is_one_pixel() -> None:
    got = masks.point((5, 6), y=4, x=1)
    assert got.sum() == 1 and got[4, 1] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_com_weights_are_relative_coordinates_inside_the_disk(dtype: type) -> None:
    sig, cy, cx = (9, 12), 4.3, 7.6
    got = masks.com_weights(sig, cy=cy, cx=cx, r=3.5, ri=1.0, dtype=dtype)
    inside = masks.ring(sig, cy=cy, cx=cx, ri=1.0, ro=3.5).astype(np.float64)
    yy, xx = np.indices(sig, dtype=np.float64)
    assert got.dtype == dtype and got.shape == (3, *sig)
    rtol = 1e-7 if dtype == np.float32 else 0
    np.testing.assert_allclose(got[0], inside)
    np.testing.assert_allclose(got[1], (yy - cy) * inside, rtol=rtol)
    np.testing.assert_allclose(got[2], (xx - cx) * inside, rtol=rtol)


def test_com_weights_without_ri_include_the_centre_pixel() -> None:
    assert masks.com_weights((5, 5), cy=2, cx=2, r=1)[0, 2, 2] == 1


# ---- MaskStack -------------------------------------------------------------------------------


def test_a_stack_keeps_the_masks_and_the_span_they_touch() -> None:
    rng = np.random.default_rng(1)
    stack = np.zeros((4, 6, 7), np.float32)
    stack[1, 2, 3] = 0.5
    stack[3, 4, 1:5] = rng.random(4)
    masks = MaskStack(stack)
    assert masks.count == 4 and masks.sig_shape == (6, 7)
    assert masks.span == (2 * 7 + 3, 4 * 7 + 5)
    lo, hi = masks.span
    flat = stack.reshape(4, -1)
    np.testing.assert_array_equal(masks.matrix(np.float32), flat.T)
    np.testing.assert_array_equal(masks.span_matrix(np.float32), flat[:, lo:hi].T)
    np.testing.assert_array_equal(masks.span_rows(np.float64), flat[:, lo:hi])
    assert masks.box == (2, 5, 1, 5)
    np.testing.assert_array_equal(masks.box_rows(np.float32), stack[:, 2:5, 1:5].reshape(4, -1))
    assert not flat[:, :lo].any() and not flat[:, hi:].any()
    np.testing.assert_array_equal(masks.masks(), stack)


@pytest.mark.parametrize(
    ("given", "dtype"),
    [
        (np.ones((3, 4), bool), np.float32),
        (np.eye(4, dtype=np.int16), np.float32),
        (np.full((2, 3, 4), 0.5), np.float64),
        (np.full((3, 4), 0.5, np.float16), np.float32),
    ],
)
def test_stacks_keep_float64_and_take_any_real_dtype(given: np.ndarray, dtype: type) -> None:
    stack = MaskStack(given)
    assert stack.dtype == dtype
    assert stack.matrix(np.dtype(dtype)).shape == (given.shape[-2] * given.shape[-1], stack.count)


@pytest.mark.parametrize(
    "given",
    [
        np.ones(4),
        np.ones((2, 2, 3, 4)),
        np.ones((0, 3, 4)),
        np.full((3, 4), np.inf),
        np.ones((3, 4), complex),
    ],
)
def test_stacks_refuse_bad_arrays(given: np.ndarray) -> None:
    with pytest.raises(ValueError):
        MaskStack(given)
