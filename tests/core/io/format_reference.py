"""Numpy references of the sum, virtual and com analyses, for the detector format tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import DataSet


def run(ds: DataSet, name: str, params: dict[str, Any], *, count: int = 3) -> dict[str, Any]:
    """Run analysis ``name`` on ``ds`` split into ``count`` partitions (inline)."""
    analysis = make_analysis(
        name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    parts = ds.partitions(count=count)
    return InlineExecutor().run(ds, analysis, partitions=parts).results


def disk_params(sig_shape: tuple[int, ...]) -> dict[str, float]:
    sy, sx = sig_shape
    return {"cy": sy / 2 - 0.5, "cx": sx / 3, "r": min(sy, sx) / 3}


def disk(sig_shape: tuple[int, ...], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: sig_shape[0], : sig_shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).astype(np.float64)


def check_against_numpy(ds: DataSet, frames: np.ndarray, *, count: int = 3) -> None:
    """``sum``, ``virtual`` (disk) and ``com`` of ``ds`` equal numpy on ``frames`` (n, sy, sx)."""
    ref = frames.astype(np.float64)
    nav = ds.nav_shape
    out = run(ds, "sum", {}, count=count)
    np.testing.assert_allclose(out["sum"], ref.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(out["max"], ref.max(axis=0), rtol=1e-5)
    geometry = disk_params(ds.sig_shape)
    mask = disk(ds.sig_shape, **geometry)
    expected = np.einsum("nyx,yx->n", ref, mask).reshape(nav)
    out = run(ds, "virtual", {"shape": "disk", **geometry}, count=count)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(out["intensity"], expected, rtol=1e-5, atol=1e-5 * scale)
    out = run(ds, "com", geometry, count=count)
    yy, xx = np.mgrid[: ds.sig_shape[0], : ds.sig_shape[1]]
    weight = np.einsum("nyx,yx->n", ref, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        com_y = np.einsum("nyx,yx->n", ref, mask * yy) / weight - geometry["cy"]
        com_x = np.einsum("nyx,yx->n", ref, mask * xx) / weight - geometry["cx"]
    np.testing.assert_allclose(out["y"], com_y.reshape(nav), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["x"], com_x.reshape(nav), rtol=1e-4, atol=1e-4)
