"""compare.js's arithmetic in Chromium against the server's and numpy's: the preview image of a
pinned result is the one the thumbnail shows (apps/results/preview.py), the difference is
float32 A − B exactly, and the shared limits are percentiles of both images together."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from apps.results.preview import preview_image

pytestmark = pytest.mark.browser


def _call(js: Any, function: str, *arrays: np.ndarray) -> Any:
    args = [
        {"shape": list(a.shape), "values": a.astype(np.float32).ravel().tolist()} for a in arrays
    ]
    return js.evaluate(
        """async ([name, args]) => {
            const m = await import('/static/js/compare.js');
            const out = m[name](...args.map((a) => ({shape: a.shape, values: Float32Array.from(a.values)})));
            return Array.isArray(out) ? out : {shape: out.shape, values: Array.from(out.values)};
        }""",
        [function, args],
    )


@pytest.mark.parametrize(
    "shape", [(7,), (5, 6), (4, 5, 3), (3, 4, 2, 2)], ids=["1d", "2d", "channels", "4d"]
)
def test_the_pinned_image_is_the_server_preview(js: Any, shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(len(shape)).random(shape).astype(np.float32)
    array.flat[3] = np.nan  # NaN stays NaN in a sum, on both sides
    got = _call(js, "previewOf", array)
    expected = preview_image(array)
    assert got["shape"] == list(expected.shape)
    np.testing.assert_allclose(
        np.array(got["values"], dtype=np.float64), expected.ravel(), rtol=1e-6, equal_nan=True
    )


def test_the_difference_is_float32_subtraction(js: Any) -> None:
    rng = np.random.default_rng(7)
    a = (rng.random((6, 5)) * 1e4).astype(np.float32)
    b = (rng.random((6, 5)) * 1e4).astype(np.float32)
    got = _call(js, "difference", a, b)
    np.testing.assert_array_equal(np.array(got["values"], dtype=np.float32), (a - b).ravel())


def test_shared_limits_are_percentiles_of_both_images(js: Any) -> None:
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    b = np.arange(100, 300, dtype=np.float32).reshape(10, 20)
    b[0, 0] = np.nan  # left out
    lo, hi = _call(js, "sharedLimits", a, b)
    pooled = np.concatenate([a.ravel(), b.ravel()])
    pooled = pooled[np.isfinite(pooled)]
    np.testing.assert_allclose([lo, hi], np.percentile(pooled, [1, 99]), rtol=1e-12)


def test_difference_limits_are_symmetric(js: Any) -> None:
    d = np.linspace(-3, 1, 101, dtype=np.float32).reshape(1, -1)
    lo, hi = _call(js, "differenceLimits", d)
    m = np.percentile(np.abs(d), 99)
    np.testing.assert_allclose([lo, hi], [-m, m], rtol=1e-6)
