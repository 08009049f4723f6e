"""An independent float64 reference of the ``strain`` analysis, written for clarity, not speed.

The correlation is the product of each frame with the template shifted to every pixel (no FFT
of the frames); each peak is refined, and each lattice fitted, one at a time with
``np.linalg.lstsq``. Only the template's Gaussian smoothing, which defines the template, uses
numpy's FFT.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TEMPLATE_BLUR = 1.5  # px: part of the template's definition (docs/analyses.md)


def template(sig: tuple[int, int], r: float) -> np.ndarray:
    """The smoothed antialiased disk, centred on pixel (0, 0), periodic."""
    sy, sx = sig
    dy = np.minimum(np.arange(sy), sy - np.arange(sy))[:, None]
    dx = np.minimum(np.arange(sx), sx - np.arange(sx))[None, :]
    disk = np.clip(r + 0.5 - np.sqrt(dy**2 + dx**2), 0, 1)
    ky, kx = np.fft.fftfreq(sy)[:, None], np.fft.fftfreq(sx)[None, :]
    gauss = np.exp(-2 * np.pi**2 * TEMPLATE_BLUR**2 * (ky**2 + kx**2))
    return np.real(np.fft.ifft2(np.fft.fft2(disk) * gauss))


def correlations(frames: np.ndarray, r: float) -> np.ndarray:
    """``c[s] = sum_q f[q] t[q - s]`` (periodic) for every pixel ``s``: ``(k, sy, sx)``."""
    k, sy, sx = frames.shape
    t = template((sy, sx), r)
    shifted = np.stack(
        [np.roll(t, (y, x), axis=(0, 1)).ravel() for y in range(sy) for x in range(sx)]
    )
    return (frames.reshape(k, -1) @ shifted.T).reshape(k, sy, sx)


def lattice_points(sig, zero, a, b, margin) -> list[tuple[tuple[int, int], np.ndarray]]:
    out = []
    for i in range(-60, 61):
        for j in range(-60, 61):
            p = zero + i * a + j * b
            if margin <= p[0] <= sig[0] - 1 - margin and margin <= p[1] <= sig[1] - 1 - margin:
                out.append(((i, j), p))
    return out


def offsets(search: float) -> list[tuple[int, int]]:
    """The search window, nearest first, ties in raster order."""
    n = int(np.floor(search))
    pts = [(dy, dx) for dy in range(-n, n + 1) for dx in range(-n, n + 1)]
    pts = [p for p in pts if p[0] ** 2 + p[1] ** 2 <= search**2]
    return sorted(pts, key=lambda p: p[0] ** 2 + p[1] ** 2)


def peak(c: np.ndarray, start: np.ndarray, window) -> tuple[np.ndarray, float]:
    """Sub-pixel peak in the window around ``start`` and its sharpness (NaN, 0: no peak)."""
    best = None
    for dy, dx in window:
        y, x = start[0] + dy, start[1] + dx
        if best is None or c[y, x] > c[best]:
            best = (y, x)
    y, x = best
    up, down, left, right, mid = c[y - 1, x], c[y + 1, x], c[y, x - 1], c[y, x + 1], c[y, x]
    ky, kx = 2 * mid - up - down, 2 * mid - left - right
    if ky <= 0 or kx <= 0 or mid < max(up, down, left, right):
        return np.array([np.nan, np.nan]), 0.0
    return np.array([y + (down - up) / (2 * ky), x + (right - left) / (2 * kx)]), (ky + kx) / 2


def fit(indices, positions, weights):
    keep = weights > 0
    design = np.column_stack([np.ones(len(indices)), indices])[keep]
    if keep.sum() < 3 or np.linalg.matrix_rank(design) < 3:
        return np.full((3, 2), np.nan)
    w = np.sqrt(weights[keep])[:, None]
    return np.linalg.lstsq(design * w, positions[keep] * w, rcond=None)[0]


def frame_lattice(c, points, window, tolerance, *, zero, descan, margin) -> np.ndarray:
    """``(zero_y, zero_x, a_y, a_x, b_y, b_x, residual, peaks)`` of one frame; with ``descan``
    the disks are searched around the lattice moved with the frame's zero order."""
    indices = np.array([ij for ij, _ in points], dtype=np.float64)
    shift = np.zeros(2, dtype=int)
    if descan > 0:
        start = np.rint(zero).astype(int)
        moved, _ = peak(c, start, offsets(descan))
        if not np.isnan(moved).any():
            shift = np.rint(moved - start).astype(int)
    sy, sx = c.shape
    found = []
    for _, p in points:
        q = p + shift
        if margin <= q[0] <= sy - 1 - margin and margin <= q[1] <= sx - 1 - margin:
            found.append(peak(c, np.rint(p).astype(int) + shift, window))
        else:
            found.append((np.array([np.nan, np.nan]), 0.0))
    positions = np.array([f[0] for f in found])
    weights = np.array([f[1] for f in found])
    design = np.column_stack([np.ones(len(indices)), indices])
    first = fit(indices, positions, weights)
    distance = np.linalg.norm(positions - design @ first, axis=1)
    weights = np.where(distance <= tolerance, weights, 0.0)
    second = fit(indices, positions, weights)
    kept = weights > 0
    d = np.linalg.norm(positions - design @ second, axis=1)[kept]
    residual = np.sqrt(np.sum(weights[kept] * d**2) / weights[kept].sum()) if kept.any() else np.nan
    if np.isnan(second).any():
        residual = np.nan
    return np.concatenate([second.ravel(), [residual, kept.sum()]])


def basis(lat: np.ndarray) -> np.ndarray:
    return np.array([[lat[3], lat[5]], [lat[2], lat[4]]])  # columns a, b as (x, y)


def strain_reference(
    data: np.ndarray, roi_: np.ndarray | None, params: dict[str, Any]
) -> dict[str, np.ndarray]:
    q = {"search": 3.0, "tolerance": 1.0, "log": False, "descan": 0.0, **params}
    q = {"scan_rotation": 0.0, "flip_y": False, **q}
    nav, sig = data.shape[:-2], data.shape[-2:]
    frames = data.reshape(-1, *sig).astype(np.float64)
    if q["log"]:
        frames = np.log1p(frames - frames.min(axis=(1, 2), keepdims=True))
    zero, a, b = (np.array([q[f"{v}y"], q[f"{v}x"]], dtype=float) for v in ("c", "a", "b"))
    margin = q["search"] + max(q["r"], 1.0)
    points = lattice_points(sig, zero, a, b, margin)
    window = offsets(q["search"])
    inside = np.ones(len(frames), bool) if roi_ is None else roi_.reshape(-1)
    rows = np.full((len(frames), 8), np.nan)
    corr = correlations(frames[inside], q["r"])
    rows[inside] = [
        frame_lattice(
            c, points, window, q["tolerance"], zero=zero, descan=q["descan"], margin=margin
        )
        for c in corr
    ]
    chosen = np.ones(len(frames), bool)
    if q["reference"] == "region":
        grid = np.zeros(nav if len(nav) == 2 else (1, nav[0]), bool)
        grid[
            q["ref_y"] : q["ref_y"] + q["ref_height"], q["ref_x"] : q["ref_x"] + q["ref_width"]
        ] = True
        chosen = grid.ravel()
    valid = chosen & ~np.isnan(rows[:, :6]).any(axis=1)
    ref = np.median(rows[valid, :6], axis=0) if valid.any() else np.full(6, np.nan)
    out = {k: np.full(len(frames), np.nan) for k in ("exx", "eyy", "exy", "rotation")}
    theta = np.radians(q["scan_rotation"])
    scan_axes = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    if q["flip_y"]:
        scan_axes = scan_axes @ np.diag([1.0, -1.0])
    for n, lat in enumerate(rows):
        if np.isnan(lat[:6]).any() or np.isnan(ref).any():
            continue
        f = scan_axes @ (basis(ref) @ np.linalg.inv(basis(lat))).T @ scan_axes.T
        out["exx"][n], out["eyy"][n] = f[0, 0] - 1, f[1, 1] - 1
        out["exy"][n] = (f[0, 1] + f[1, 0]) / 2
        out["rotation"][n] = np.degrees(np.arctan2(f[1, 0] - f[0, 1], f[0, 0] + f[1, 1]))
    names = ("zero_y", "zero_x", "a_y", "a_x", "b_y", "b_x", "residual", "peaks")
    out.update({name: rows[:, i] for i, name in enumerate(names)})
    return {k: v.reshape(nav) for k, v in out.items()}
