"""A lattice fitted to the Bragg disks of each frame, and the strain between two lattices.

A frame's lattice is ``(zero, a, b)``, each ``(y, x)`` in detector pixels (see
:mod:`apps.core.bragg`); the disk of index ``(i, j)`` lies at ``zero + i a + j b``.

Strain: the diffraction pattern shows the reciprocal lattice, which a deformation ``F`` of the
crystal (``r' = F r``) changes as ``g' = F^-T g``. With ``G`` the matrix whose columns are
``a`` and ``b`` as ``(x, y)`` and ``G0`` the reference's, ``F = (G0 G^-1)^T``. The small-strain
tensor is the symmetric part of ``F - I``; the rotation is the angle of ``F``'s polar
decomposition, ``atan2(F_yx - F_xy, F_xx + F_yy)``. Axes are the detector's: x along a row
(to the right), y down the columns; a positive rotation turns +x towards +y (clockwise as the
detector is shown, rows downwards). :func:`in_scan_axes` turns them into the scan's.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Columns of a fitted lattice row: the lattice, then the fit's quality.
LATTICE_COLUMNS = ("zero_y", "zero_x", "a_y", "a_x", "b_y", "b_x", "residual", "peaks")


def fit_lattice(
    indices: np.ndarray, positions: np.ndarray, weights: np.ndarray, *, tolerance: float
) -> np.ndarray:
    """The weighted least-squares lattice of each frame's peaks, with one rejection pass.

    ``indices``: ``(n, 2)`` ``(i, j)``; ``positions``: ``(k, n, 2)`` ``(y, x)`` (NaN: no peak);
    ``weights``: ``(k, n)``, 0 for no peak. The first fit uses every peak; peaks farther than
    ``tolerance`` px from it are dropped and the rest fitted again.

    Returns ``(k, 8)`` float64 rows of :data:`LATTICE_COLUMNS`: ``residual`` is the weighted
    root-mean-square distance (px) of the kept peaks from the fitted lattice, ``peaks`` their
    number. A frame with fewer than three kept peaks, or all on one line, gives NaN (and its
    count).
    """
    design = np.column_stack([np.ones(len(indices)), indices]).astype(np.float64)
    weights = np.where(np.isfinite(positions).all(axis=2), weights, 0.0)
    coef = _weighted_fit(design, positions, weights)
    distance = np.linalg.norm(positions - design @ coef, axis=2)
    with np.errstate(invalid="ignore"):
        weights = np.where(distance <= tolerance, weights, 0.0)
    coef = _weighted_fit(design, positions, weights)
    distance = np.linalg.norm(positions - design @ coef, axis=2)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = np.sqrt(np.nansum(weights * distance**2, axis=1) / total)
    residual[np.isnan(coef[:, 0, 0])] = np.nan
    count = np.count_nonzero(weights > 0, axis=1)
    return np.column_stack([coef.reshape(len(coef), 6), residual, count])


def _weighted_fit(design: np.ndarray, positions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(k, 3, 2)`` rows ``zero, a, b`` minimising ``sum w |p - design @ coef|^2`` per frame."""
    kept = np.where(weights[..., None] > 0, positions, 0.0)
    normal = np.einsum("kn,na,nb->kab", weights, design, design)
    rhs = np.einsum("kn,na,knc->kac", weights, design, kept)
    diagonal = np.sqrt(np.einsum("kaa->ka", normal))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = normal / (diagonal[:, :, None] * diagonal[:, None, :])
        solvable = (np.count_nonzero(weights > 0, axis=1) >= 3) & (np.linalg.det(unit) > 1e-9)
    normal[~solvable] = np.eye(3)
    coef = np.linalg.solve(normal, rhs)
    coef[~solvable] = np.nan
    return coef


def reference_lattice(rows: np.ndarray, selected: np.ndarray | None = None) -> np.ndarray:
    """The element-wise median ``(zero_y, zero_x, a_y, a_x, b_y, b_x)`` of the fitted frames.

    ``rows``: ``(k, >= 6)`` from :func:`fit_lattice`; ``selected``: ``(k,)`` bool (None: all).
    Frames without a lattice (NaN) do not count; none left gives NaN.
    """
    lattices = rows[:, :6] if selected is None else rows[selected, :6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no fitted frame: the median is NaN
        return np.nanmedian(lattices, axis=0) if len(lattices) else np.full(6, np.nan)


def deformation(lattices: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``F = (G0 G^-1)^T`` of each lattice against ``reference``, in ``(x, y)`` components.

    ``lattices``: ``(..., >= 6)`` rows as :data:`LATTICE_COLUMNS`; ``reference``: ``(6,)``.
    Returns ``(..., 2, 2)`` float64 (NaN where a lattice is NaN or degenerate).
    """
    g = _basis(lattices)
    g0 = _basis(reference)
    det = g[..., 0, 0] * g[..., 1, 1] - g[..., 0, 1] * g[..., 1, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse = (
            np.stack(
                [
                    np.stack([g[..., 1, 1], -g[..., 0, 1]], axis=-1),
                    np.stack([-g[..., 1, 0], g[..., 0, 0]], axis=-1),
                ],
                axis=-2,
            )
            / np.where(det == 0, np.nan, det)[..., None, None]
        )
    return np.swapaxes(g0 @ inverse, -1, -2)


def _basis(lattice: np.ndarray) -> np.ndarray:
    """``(..., 2, 2)``: columns ``a`` and ``b``, rows ``x`` and ``y``."""
    a_y, a_x, b_y, b_x = (lattice[..., i] for i in (2, 3, 4, 5))
    return np.stack([np.stack([a_x, b_x], axis=-1), np.stack([a_y, b_y], axis=-1)], axis=-2)


def in_scan_axes(f: np.ndarray, *, degrees: float, flip_y: bool) -> np.ndarray:
    """Deformations ``f`` ``(..., 2, 2)`` in the scan's axes: ``Q f Q^T`` with ``Q`` the flip
    ``y -> -y`` (when ``flip_y``) followed by the rotation by ``degrees``
    (``x' = x cos - y sin``, ``y' = x sin + y cos``), the centre of mass's convention."""
    theta = np.radians(degrees)
    q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    if flip_y:
        q = q @ np.diag([1.0, -1.0])
    return q @ f @ q.T


def strain_components(f: np.ndarray) -> dict[str, np.ndarray]:
    """``exx, eyy, exy`` (the symmetric part of ``F - I``) and ``rotation`` (degrees) of
    deformations ``f`` ``(..., 2, 2)`` in ``(x, y)`` components."""
    return {
        "exx": f[..., 0, 0] - 1,
        "eyy": f[..., 1, 1] - 1,
        "exy": (f[..., 0, 1] + f[..., 1, 0]) / 2,
        "rotation": np.degrees(
            np.arctan2(f[..., 1, 0] - f[..., 0, 1], f[..., 0, 0] + f[..., 1, 1])
        ),
    }
