"""Independent float64 references for the analyses, and the test data they run on.

Nothing here uses ``apps.core``: masks are built from the geometry definitions of DESIGN
section 8 and every result is an ``np.einsum`` over the whole 4-d array in float64.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

NAV, SIG = (7, 13), (33, 47)
DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64")
ORDERS = ("<", ">")
DatasetFactory = Callable[..., tuple[np.ndarray, Any]]
"""The ``dataset`` fixture: ``dataset(dtype, form)`` -> ``(data, DataSet)``."""

ALL_DTYPES = tuple(
    dict.fromkeys(np.dtype(d).newbyteorder(o).str for d in DTYPES for o in ORDERS)
)  # "|i1", "<i2", ">i2", ... (one-byte types have no byte order)


# ---- data ------------------------------------------------------------------------------------


def scan_data(dtype: str, *, nav: tuple[int, ...] = NAV, sig=SIG, seed: int = 7) -> np.ndarray:
    """Asymmetric 4D-STEM-like frames in ``dtype``: a detector gradient, a scan gradient, an
    off-centre blob that wanders with the scan position, and noise; signed types also hold
    some negative values. Transposed or flipped results cannot match it."""
    rng = np.random.default_rng(seed)
    n = math.prod(nav)
    iy, ix = np.divmod(np.arange(n), nav[-1])
    yy, xx = np.mgrid[: sig[0], : sig[1]]
    cy = 11.0 + 0.9 * iy[:, None, None]
    cx = 29.0 - 0.7 * ix[:, None, None]
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.5**2))
    value = 3 * blob + 0.02 * yy + 0.005 * xx + 0.03 * (iy * 2 + ix)[:, None, None]
    value = value + 0.2 * rng.random(value.shape)
    value = value / value.max()  # (0, 1]
    dt = np.dtype(dtype)
    if dt.kind == "f":
        out = (value - 0.05) * 1e4
    else:
        info = np.iinfo(dt)
        hi = info.max * 0.95
        lo = -0.05 * hi if dt.kind == "i" else 0.0
        out = np.round(lo + value * (hi - lo))
    return out.astype(dt).reshape(*nav, *sig)


def roi(kind: str, nav: tuple[int, int] = NAV) -> np.ndarray | None:
    """A scan ROI of ``nav``: None, a rectangle, a disk, or random positions."""
    ny, nx = nav
    yy, xx = np.mgrid[:ny, :nx]
    if kind == "none":
        return None
    if kind == "rect":
        return (yy >= 2) & (yy < 6) & (xx >= 3) & (xx < 11)
    if kind == "disk":
        return (yy - 3.2) ** 2 + (xx - 6.5) ** 2 <= 3.1**2
    if kind == "random":
        out = np.random.default_rng(3).random(nav) < 0.4
        out[0, 0] = out[4, 9] = True  # (4, 9): the picked frame of CASES["pick"]
        return out
    raise ValueError(kind)


# ---- files -----------------------------------------------------------------------------------


def write(folder: Path, data: np.ndarray, form: str) -> str:
    """Write ``data`` as ``form`` into ``folder``; return the path to open."""
    folder.mkdir(parents=True, exist_ok=True)
    from apps.core.io.raw import write_sidecar  # the Core's writer of its own format

    nav, sig = list(data.shape[:-2]), list(data.shape[-2:])
    meta = {"dtype": data.dtype.str, "nav_shape": nav, "sig_shape": sig}
    if form == "npy":
        np.save(folder / "data.npy", data)
        return str(folder / "data.npy")
    if form == "raw":
        header = b"HEADER".ljust(64, b"\0")  # the one-file form with an offset
        (folder / "data.raw").write_bytes(header + data.tobytes())
        write_sidecar(folder / "data.json", {**meta, "path": "data.raw", "offset": 64})
        return str(folder / "data.json")
    if form == "raw-parts":
        flat = data.reshape(-1, *sig)
        cuts = [0, 30, 61, len(flat)]
        parts = []
        for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
            (folder / f"part-{i:05d}.raw").write_bytes(flat[lo:hi].tobytes())
            parts.append({"path": f"part-{i:05d}.raw", "start": lo, "stop": hi, "nodes": []})
        write_sidecar(folder / "data.json", {**meta, "partitions": parts})
        return str(folder / "data.json")
    if form.startswith("hdf5"):
        options: dict[str, Any] = {
            "hdf5": {},
            "hdf5-chunked": {"chunks": (2, 5, 33, 47)},
            "hdf5-gzip": {"chunks": (1, 13, 11, 16), "compression": "gzip", "shuffle": True},
        }[form]
        with h5py.File(folder / "data.h5", "w") as f:
            f.create_dataset("/entry/data", data=data, **options)
        return str(folder / "data.h5")
    raise ValueError(form)


# ---- masks (DESIGN section 8 geometry, written independently) --------------------------------


def _d2(cy: float, cx: float, sig=SIG) -> np.ndarray:
    yy, xx = np.indices(sig, dtype=np.float64)
    return (yy - cy) ** 2 + (xx - cx) ** 2


def disk_mask(cy: float, cx: float, r: float, sig=SIG) -> np.ndarray:
    return (_d2(cy, cx, sig) <= r * r).astype(np.float64)


def ring_mask(cy: float, cx: float, ri: float, ro: float, sig=SIG) -> np.ndarray:
    d2 = _d2(cy, cx, sig)
    return ((d2 > ri * ri) & (d2 <= ro * ro)).astype(np.float64)


def rect_mask(y: int, x: int, height: int, width: int, sig=SIG) -> np.ndarray:
    out = np.zeros(sig)
    for py in range(sig[0]):
        for px in range(sig[1]):
            if y <= py < y + height and x <= px < x + width:
                out[py, px] = 1
    return out


def point_mask(y: int, x: int, sig=SIG) -> np.ndarray:
    out = np.zeros(sig)
    out[y, x] = 1
    return out


def polygon_mask(points: list[list[float]], sig=SIG) -> np.ndarray:
    """PNPOLY (W. R. Franklin's crossing test) on every pixel centre."""
    out = np.zeros(sig)
    n = len(points)
    for py in range(sig[0]):
        for px in range(sig[1]):
            inside = False
            j = n - 1
            for i in range(n):
                (yi, xi), (yj, xj) = points[i], points[j]
                if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
                    inside = not inside
                j = i
            out[py, px] = inside
    return out


def radial_masks(cy: float, cx: float, ri: float, ro: float, bins: int, sig=SIG) -> np.ndarray:
    width = (ro - ri) / bins
    d2 = _d2(cy, cx, sig)
    lower = [ri + k * width for k in range(bins)]
    upper = [*lower[1:], ro]
    return np.stack([(d2 > lo * lo) & (d2 <= hi * hi) for lo, hi in zip(lower, upper, strict=True)])


# ---- references ------------------------------------------------------------------------------


def apply(data: np.ndarray, masks: np.ndarray, roi_: np.ndarray | None = None) -> np.ndarray:
    """``nav + (m,)`` products in float64, NaN outside the ROI."""
    masks = masks if masks.ndim == 3 else masks[None]
    out = np.einsum("...ij,mij->...m", data.astype(np.float64), masks.astype(np.float64))
    if roi_ is not None:
        out[~roi_] = np.nan
    return out


def sum_reference(data: np.ndarray, roi_: np.ndarray | None) -> dict[str, np.ndarray]:
    frames = data.astype(np.float64).reshape(-1, *data.shape[-2:])
    if roi_ is not None:
        frames = frames[roi_.reshape(-1)]
    return {"sum": frames.sum(axis=0), "mean": frames.mean(axis=0), "max": frames.max(axis=0)}


def _diff(f: np.ndarray, axis: int) -> np.ndarray:
    """Central differences inside, one-sided at the ends, 0 along an axis of length 1."""
    g = np.moveaxis(f, axis, 0)
    out = np.zeros_like(g)
    if g.shape[0] > 1:
        out[1:-1] = (g[2:] - g[:-2]) / 2
        out[0] = g[1] - g[0]
        out[-1] = g[-1] - g[-2]
    return np.moveaxis(out, 0, axis)


def com_reference(
    data: np.ndarray,
    roi_: np.ndarray | None,
    *,
    cy: float,
    cx: float,
    r: float,
    ri: float = 0.0,
    scan_rotation: float = 0.0,
    flip_y: bool = False,
) -> dict[str, np.ndarray]:
    sig = data.shape[-2:]
    region = ring_mask(cy, cx, ri, r, sig) if ri > 0 else disk_mask(cy, cx, r, sig)
    yy, xx = np.indices(sig, dtype=np.float64)
    frames = data.astype(np.float64)
    total = np.einsum("...ij,ij->...", frames, region)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.einsum("...ij,ij->...", frames, region * yy) / total - cy
        x = np.einsum("...ij,ij->...", frames, region * xx) / total - cx
    y[total == 0] = np.nan
    x[total == 0] = np.nan
    if roi_ is not None:
        y[~roi_] = np.nan
        x[~roi_] = np.nan
    if flip_y:
        y = -y
    t = np.deg2rad(scan_rotation)
    x, y = x * np.cos(t) - y * np.sin(t), x * np.sin(t) + y * np.cos(t)
    gy, gx = np.atleast_2d(y), np.atleast_2d(x)
    divergence = (_diff(gx, 1) + _diff(gy, 0)).reshape(y.shape)
    curl = (_diff(gy, 1) - _diff(gx, 0)).reshape(y.shape)
    divergence[np.isnan(x)] = np.nan
    curl[np.isnan(x)] = np.nan
    return {
        "x": x,
        "y": y,
        "magnitude": np.sqrt(x**2 + y**2),
        "divergence": divergence,
        "curl": curl,
    }


def assert_close(ours: np.ndarray, ref: np.ndarray, *, wide: bool, scale: float | None = None):
    """The numerical contract: equal NaN positions, and ``max|ours - ref| <= rtol * scale``
    with ``rtol`` 1e-5 (float32 compute) or 1e-12 (float64), ``scale`` max|ref| by default."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    nan = np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(ours), nan, err_msg="NaN positions differ")
    if nan.all():
        return
    scale = float(np.max(np.abs(ref[~nan]))) if scale is None else scale
    rtol = 1e-12 if wide else 1e-5
    err = float(np.max(np.abs(ours[~nan].astype(np.float64) - ref[~nan])))
    assert err <= rtol * max(scale, 1e-300), f"max error {err:g} > {rtol:g} * {scale:g}"


# ---- the standard case of each analysis ------------------------------------------------------


def user_masks(sig=SIG, dtype: str = "float32") -> np.ndarray:
    """Three asymmetric masks: a ramp, a sparse random pattern, a tilted half-plane."""
    yy, xx = np.indices(sig, dtype=np.float64)
    ramp = (yy + 2 * xx) / (sig[0] + 2 * sig[1])
    sparse = (np.random.default_rng(11).random(sig) < 0.1).astype(np.float64)
    half = (yy < 0.4 * xx + 5).astype(np.float64)
    return np.stack([ramp, sparse, half]).astype(dtype)


CASES: dict[str, dict[str, Any]] = {
    "sum": {},
    "pick": {"y": 4, "x": 9},
    "virtual": {"shape": "disk", "cx": 29.3, "cy": 12.6, "r": 7.5},
    "com": {"cx": 27.4, "cy": 15.2, "r": 12.5, "scan_rotation": 33.0, "flip_y": True},
    # integer centre and edges 2, 5, 8, ...: pixels lie exactly on bin edges
    "radial": {"cx": 23, "cy": 16, "ri": 2.0, "ro": 20.0, "bins": 6},
    "masks": {"masks": user_masks()},
}


def virtual_mask(params: dict[str, Any], sig=SIG) -> np.ndarray:
    q = {k: v for k, v in params.items() if k != "shape"}
    shape = params["shape"]
    if shape == "disk":
        return disk_mask(q["cy"], q["cx"], q["r"], sig)
    if shape == "ring":
        return ring_mask(q["cy"], q["cx"], q["ri"], q["ro"], sig)
    if shape == "rect":
        return rect_mask(q["y"], q["x"], q["height"], q["width"], sig)
    if shape == "point":
        return point_mask(q["y"], q["x"], sig)
    return polygon_mask(q["points"], sig)


def expected(
    name: str, params: dict[str, Any], data: np.ndarray, roi_: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The float64 reference results of analysis ``name``."""
    sig = data.shape[-2:]
    if name == "sum":
        return sum_reference(data, roi_)
    if name == "pick":
        y, x = params.get("y", 0), params["x"]
        frame = data.reshape(-1, *sig)[y * data.shape[-3] + x].astype(np.float64)
        inside = roi_ is None or roi_.reshape(-1)[y * data.shape[-3] + x]
        return {"frame": frame if inside else np.full(sig, np.nan)}
    if name == "virtual":
        return {"intensity": apply(data, virtual_mask(params, sig), roi_)[..., 0]}
    if name == "com":
        return com_reference(data, roi_, **params)
    if name == "radial":
        q = params
        bins = radial_masks(q["cy"], q["cx"], q.get("ri", 0.0), q["ro"], q["bins"], sig)
        return {"profile": apply(data, bins, roi_)}
    if name == "masks":
        return {"masks": apply(data, params["masks"], roi_)}
    raise ValueError(name)


def wide(name: str, params: dict[str, Any], dtype: np.dtype) -> bool:
    """Whether the numerical contract computes in float64 for this case."""
    masks = params.get("masks")
    data_wide = np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize == 8  # either order
    return data_wide or (masks is not None and masks.dtype == np.float64)


def check_results(
    name: str,
    params: dict[str, Any],
    data: np.ndarray,
    roi_: np.ndarray | None,
    results: dict[str, np.ndarray],
) -> None:
    """Every result of ``name`` against the reference, with the contract's dtype and tolerance."""
    ref = expected(name, params, data, roi_)
    assert sorted(results) == sorted(ref)
    is_wide = wide(name, params, data.dtype)
    for key, want in ref.items():
        got = results[key]
        dtype = np.float64 if (name == "sum" or is_wide) else np.float32
        assert got.dtype == dtype, f"{name}.{key}: dtype {got.dtype}, expected {dtype}"
        # COM shifts and their derivatives: errors relative to the detector size
        scale = float(max(data.shape[-2:])) if name == "com" else None
        assert_close(got, want, wide=is_wide, scale=scale)
