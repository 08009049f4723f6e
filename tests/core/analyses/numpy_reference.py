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

from tests.core.analyses.com_field_reference import descan_plane, icom_reference, ricom_reference

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


def soft_ring_weights(cy: float, cx: float, ri: float, ro: float, bins: int, sig=SIG):
    """LiberTEM's antialiased rings: weight ``clip(w/2 + 1/2 - |d - r_b|, 0, 1)`` around the
    bin centres ``r_b``; with ``ri < 1/2`` the pixel nearest the centre weighs ``1 - ri``."""
    width = (ro - ri) / bins
    d = np.sqrt(_d2(cy, cx, sig))
    out = np.zeros((bins, *sig))
    for b in range(bins):
        centre = ri + (b + 0.5) * width
        out[b] = np.minimum(1.0, np.maximum(0.0, width / 2 + 0.5 - np.abs(d - centre)))
    py, px = int(np.round(cy)), int(np.round(cx))
    if ri < 0.5 and 0 <= py < sig[0] and 0 <= px < sig[1]:
        out[0, py, px] = 1 - ri
    return out


# ---- references ------------------------------------------------------------------------------


def apply(data: np.ndarray, masks: np.ndarray, roi_: np.ndarray | None = None) -> np.ndarray:
    """``nav + (m,)`` products in float64, NaN outside the ROI."""
    masks = masks if masks.ndim == 3 else masks[None]
    out = np.einsum("...ij,mij->...m", data.astype(np.float64), masks.astype(np.float64))
    if roi_ is not None:
        out[~roi_] = np.nan
    return out


def sum_reference(
    data: np.ndarray, roi_: np.ndarray | None, maximum: bool = True
) -> dict[str, np.ndarray]:
    frames = data.astype(np.float64).reshape(-1, *data.shape[-2:])
    if roi_ is not None:
        frames = frames[roi_.reshape(-1)]
    out = {"sum": frames.sum(axis=0), "mean": frames.mean(axis=0)}
    if maximum:
        out["max"] = frames.max(axis=0)
    return out


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
    descan: str = "none",
    descan_reference: np.ndarray | None = None,
    ricom_radius: int = 8,
) -> dict[str, np.ndarray]:
    """Descan as LiberTEM's CoMUDF applies its regression: after the flip and rotation (the
    reference's detector-frame plane is first turned into the scan frame)."""
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
    if descan_reference is not None:
        c = np.array(descan_reference, dtype=np.float64)
        c[:, 0] *= -1 if flip_y else 1
        plane = np.column_stack(
            [c[:, 1] * np.sin(t) + c[:, 0] * np.cos(t), c[:, 1] * np.cos(t) - c[:, 0] * np.sin(t)]
        )
    else:
        plane = descan_plane(y, x, descan)
    rows, cols = np.indices(np.atleast_2d(y).shape)
    y = y - (plane[0, 0] + plane[1, 0] * rows + plane[2, 0] * cols).reshape(y.shape)
    x = x - (plane[0, 1] + plane[1, 1] * rows + plane[2, 1] * cols).reshape(x.shape)
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
        "icom": icom_reference(y, x),
        "ricom": ricom_reference(y, x, ricom_radius),
        "descan": plane,
        "guess": np.empty(4),  # compared with LiberTEM and known fields in test_com_corrections
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
    exact = np.asarray(ours[~nan], dtype=np.result_type(ours.dtype, np.float64))
    err = float(np.max(np.abs(exact - ref[~nan])))
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
    "com": {
        "cx": 27.4,
        "cy": 15.2,
        "r": 12.5,
        "scan_rotation": 33.0,
        "flip_y": True,
        "descan": "plane",
        "ricom_radius": 4,
    },
    # integer centre and edges 2, 5, 8, ...: pixels lie exactly on bin edges
    "radial": {"cx": 23, "cy": 16, "ri": 2.0, "ro": 20.0, "bins": 6},
    "masks": {"masks": user_masks()},
    "std": {},
    "stddev": {},
    # scan_data holds no lattice: every fit fails (NaN, 0 peaks), so this case checks the ROI,
    # dtype and format contract only; test_strain.py checks the values on lattices of disks
    "strain": {
        "reference": "median",
        "cy": 16.2,
        "cx": 23.4,
        "ay": 0.5,
        "ax": 9.0,
        "by": 8.0,
        "bx": -1.0,
        "r": 2.5,
        "search": 2.0,
    },
    "radial_fourier": {"cx": 22.6, "cy": 15.3, "ri": 1.5, "ro": 14.0, "bins": 3, "max_order": 6},
    # off-centre and fractional: a transposed or mirrored ring cannot match
    "fem": {"cx": 27.3, "cy": 14.6, "ri": 3.0, "ro": 15.5, "bins": 5},
    "cluster": {"cx": 22.6, "cy": 15.3, "ro": 14.0, "bins": 2, "max_order": 4, "clusters": 3},
    # off-centre, rotated and flipped: a transposed or mirrored shift cannot match
    "parallax": {
        "shifts": "defocus",
        "cx": 23.4,
        "cy": 16.2,
        "r": 6.5,
        # D = defocus x detector_pixel / scan_step = 900 nm x 1 mrad / 2 nm = 0.45
        "defocus": 900.0,
        "scan_step": 2.0,
        "detector_pixel": 1.0,
        "beam_energy": 200.0,
        "scan_rotation": 20.0,
        "flip_y": True,
    },
    # a 10 px disk, off-centre, rotated and flipped: frequencies shift it by 1.5 to 9 px
    "ssb": {
        "beam_energy": 300.0,
        "convergence_angle": 20.0,
        "detector_pixel": 2.0,
        "scan_step": 0.05,
        "cx": 23.4,
        "cy": 16.2,
        "scan_rotation": 33.0,
        "flip_y": True,
    },
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
        return sum_reference(data, roi_, params.get("max", True))
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
    if name == "std":
        return {"std": std_reference(data, roi_)}
    if name == "stddev":
        return stddev_reference(data, roi_)
    if name == "strain":
        # imported here: the portal's tests import this module as tests.core.analyses...,
        # where strain_reference is not a top-level module
        from strain_reference import strain_reference

        return strain_reference(data, roi_, params)
    if name == "radial_fourier":
        return radial_fourier_reference(data, roi_, **params)
    if name == "fem":
        return fem_reference(data, roi_, **params)
    if name == "cluster":
        return cluster_reference(data, roi_, **params)
    if name == "parallax":
        from parallax_reference import parallax_reference  # as strain_reference above

        return parallax_reference(data, roi_, **params)
    if name == "ssb":
        return ssb_reference(data, roi_, **params)
    raise ValueError(name)


def std_reference(data: np.ndarray, roi_: np.ndarray | None) -> np.ndarray:
    """``np.std(frame)`` of every frame (numpy computes integer data in float64), NaN outside
    the ROI."""
    nav = data.shape[:-2]
    out = np.array([np.std(frame) for frame in data.reshape(-1, *data.shape[-2:])]).reshape(nav)
    if roi_ is not None:
        out[~roi_] = np.nan
    return out


def stddev_reference(data: np.ndarray, roi_: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per detector pixel over the frames (inside the ROI): numpy's two-pass mean, var, std."""
    frames = data.astype(np.float64).reshape(-1, *data.shape[-2:])
    if roi_ is not None:
        frames = frames[roi_.reshape(-1)]
    return {"mean": frames.mean(axis=0), "var": frames.var(axis=0), "std": frames.std(axis=0)}


def radial_fourier_reference(
    data: np.ndarray,
    roi_: np.ndarray | None,
    *,
    cx: float,
    cy: float,
    ri: float = 0.0,
    ro: float,
    bins: int = 1,
    max_order: int = 12,
) -> dict[str, np.ndarray]:
    """``c[b, n] = sum w_b I exp(i n phi)`` with complex masks in float64; ``relative`` and
    LiberTEM's ``dominant`` from it."""
    sig = data.shape[-2:]
    yy, xx = np.indices(sig, dtype=np.float64)
    phi = np.arctan2(yy - cy, xx - cx)
    rings = soft_ring_weights(cy, cx, ri, ro, bins, sig)
    waves = np.exp(1j * np.arange(max_order + 1)[:, None, None] * phi)
    c = np.einsum("...ij,bij,nij->...bn", data.astype(np.float64), rings, waves)
    if roi_ is not None:
        c[~roi_] = np.nan
    magnitude = np.abs(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(magnitude[..., :1] == 0, 0.0, magnitude / magnitude[..., :1])
    higher = magnitude[..., 1:]
    inside = ~np.isnan(higher[..., 0, 0])
    threshold = 0.2 * np.array([higher[inside][:, b].max() for b in range(bins)])
    dominant = np.argmax(np.nan_to_num(higher, nan=0), axis=-1) + 1.0
    dominant[np.all(higher < threshold[:, None], axis=-1)] = 0
    dominant[~inside] = np.nan
    return {"coefficients": c, "relative": relative, "dominant": dominant}


def fem_reference(
    data: np.ndarray,
    roi_: np.ndarray | None,
    *,
    cx: float,
    cy: float,
    ri: float,
    ro: float,
    bins: int,
) -> dict[str, np.ndarray]:
    """FEM: ``np.std`` of each frame's ring pixels (NaN outside the ROI), and per radial bin
    the normalised variance ``<I^2>/<I>^2 - 1`` of the frames' mean intensity in the bin."""
    sig = data.shape[-2:]
    frames = data.astype(np.float64).reshape(-1, *sig)
    ring = ring_mask(cy, cx, ri, ro, sig).astype(bool)
    std = np.array([np.std(frame[ring]) for frame in frames]).reshape(data.shape[:-2])
    inside = np.ones(len(frames), bool) if roi_ is None else roi_.reshape(-1)
    if roi_ is not None:
        std[~roi_] = np.nan
    masks = radial_masks(cy, cx, ri, ro, bins, sig)
    with np.errstate(invalid="ignore", divide="ignore"):  # a bin without pixels: NaN
        sums = np.stack([frames[inside][:, m].sum(axis=1) for m in masks], axis=1)
        means = sums / masks.sum(axis=(1, 2))
        variance = (means**2).mean(axis=0) / means.mean(axis=0) ** 2 - 1
    width = (ro - ri) / bins
    return {"std": std, "variance": variance, "radius": ri + width * (np.arange(bins) + 0.5)}


def cluster_reference(
    data: np.ndarray, roi_: np.ndarray | None, *, clusters: int = 3, **rings: Any
) -> dict[str, np.ndarray]:
    """Features from the float64 radial Fourier coefficients (each ring's share of ``|c_0|``,
    then ``|c_n| / |c_0|``), scikit-learn's k-means on them, clusters numbered by their first
    frame, and numpy's mean of each cluster's frames."""
    from sklearn.cluster import KMeans

    magnitude = np.abs(radial_fourier_reference(data, roi_, **rings)["coefficients"])
    order0 = magnitude[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(order0 == 0, 0.0, order0 / order0.sum(axis=-1, keepdims=True))
        symmetry = np.where(order0[..., None] == 0, 0.0, magnitude[..., 1:] / order0[..., None])
    nav = data.shape[:-2]
    features = np.concatenate([share, symmetry.reshape(*nav, -1)], axis=-1)
    flat = features.reshape(-1, features.shape[-1])
    inside = ~np.isnan(flat[:, 0])
    found = KMeans(n_clusters=clusters, n_init=10, random_state=0).fit(flat[inside]).labels_
    order = list(dict.fromkeys(found.tolist()))  # clusters in order of their first frame
    labels = np.full(len(flat), np.nan)
    labels[inside] = [order.index(f) for f in found]
    frames = data.reshape(-1, *data.shape[-2:]).astype(np.float64)
    means = np.stack([frames[labels == j].mean(axis=0) for j in range(clusters)], axis=-1)
    return {"labels": labels.reshape(nav), "means": means, "features": features}


#: Analyses whose results are float64 for every data dtype.
FLOAT64_RESULTS = ("sum", "std", "stddev", "strain", "fem", "parallax")
#: Results that are float64 (``dominant``) or complex in the compute dtype, whatever the others.
RESULT_KINDS = {
    ("radial_fourier", "dominant"): "float64",
    ("radial_fourier", "coefficients"): "c",
    ("cluster", "labels"): "float64",
    ("cluster", "means"): "float64",
    ("com", "descan"): "float64",
    ("com", "guess"): "float64",
    ("ssb", "phase"): "float64",
    ("ssb", "amplitude"): "float64",
    ("ssb", "complex"): "c",
}
#: Results whose values the reference leaves to a test of their own (only shape and dtype here).
COMPARED_ELSEWHERE = {("com", "guess")}


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
        dtype = np.dtype(np.float64 if (name in FLOAT64_RESULTS or is_wide) else np.float32)
        kind = RESULT_KINDS.get((name, key))
        if kind is not None:
            dtype = (
                np.dtype(np.float64) if kind == "float64" else np.result_type(dtype, np.complex64)
            )
        assert got.dtype == dtype, f"{name}.{key}: dtype {got.dtype}, expected {dtype}"
        # COM shifts and their derivatives: errors relative to the detector size
        scale = float(max(data.shape[-2:])) if name == "com" else None
        if (name, key) in COMPARED_ELSEWHERE:
            assert got.shape == want.shape, f"{name}.{key}: shape {got.shape}"
            continue
        assert_close(got, want, wide=is_wide, scale=scale)


def ssb_reference(
    data: np.ndarray,
    roi_: np.ndarray | None,
    *,
    beam_energy: float,
    convergence_angle: float,
    detector_pixel: float,
    scan_step: float,
    cx: float,
    cy: float,
    scan_rotation: float = 0.0,
    flip_y: bool = False,
) -> dict[str, np.ndarray]:
    """SSB by its definition, per frame, over every frequency of the scan grid in float64:
    ``G(Q) = Σ_r exp(-2πi Q·r) Σ_k m_Q(k) I(r, k)``, the object ``ifft2(G)`` (frames outside
    the ROI count as zero). ``m_Q`` as ptychography40 makes it: the trotter where the disk
    shifted by ``+s`` overlaps the centre disk (not the ``-s`` one) over its area, minus the
    ``-s`` trotter over its area, halved; ``Q = 0``: the disk over its area."""
    ny, nx = data.shape[:2]
    sig = data.shape[-2:]
    frames = data.reshape(ny * nx, -1).astype(np.float64)
    if roi_ is not None:
        frames[~roi_.reshape(-1)] = 0
    # relativistic electron wavelength (nm), CODATA constants
    h, m, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    volts = beam_energy * 1e3
    lam = h / math.sqrt(2 * m * e * volts * (1 + e * volts / (2 * m * c * c))) * 1e9
    radius = convergence_angle / detector_pixel
    per_pixel = math.sin(convergence_angle * 1e-3) / lam / radius
    yy, xx = np.mgrid[: sig[0], : sig[1]]

    def disk(dy: float, dx: float) -> np.ndarray:
        distance = np.hypot(yy - cy - dy, xx - cx - dx)
        return np.clip(radius + 0.5 - distance, 0, 1).ravel()

    centre = disk(0.0, 0.0)
    theta = math.radians(scan_rotation)
    spectrum = np.zeros((ny, nx), dtype=np.complex128)
    iy, ix = np.divmod(np.arange(ny * nx), nx)
    for qy in range(ny):
        for qx in range(nx):
            fy = (qy - ny if qy > ny / 2 else qy) / (ny * scan_step) / per_pixel
            fx = (qx - nx if qx > nx / 2 else qx) / (nx * scan_step) / per_pixel
            # undo the centre of mass's rotation, then its flip: scan to detector directions
            dy = fy * math.cos(theta) - fx * math.sin(theta)
            dx = fy * math.sin(theta) + fx * math.cos(theta)
            dy = -dy if flip_y else dy
            if qy == 0 and qx == 0:
                mask = centre / centre.sum()
            elif dy * dy + dx * dx > 4 * radius * radius:
                continue
            else:
                plus, minus = disk(dy, dx), disk(-dy, -dx)
                positive = centre * plus * (minus == 0)
                negative = centre * minus * (plus == 0)
                if positive.sum() < 1 or negative.sum() < 1:
                    continue
                mask = (positive / positive.sum() - negative / negative.sum()) / 2
            wave = np.exp(-2j * np.pi * (qy * iy / ny + qx * ix / nx))
            spectrum[qy, qx] = np.sum(wave * (frames @ mask))
    inverse = np.fft.ifft2(spectrum)
    amplitude = np.sqrt(np.abs(inverse))
    phase = np.angle(inverse)
    return {"phase": phase, "amplitude": amplitude, "complex": amplitude * np.exp(1j * phase)}
