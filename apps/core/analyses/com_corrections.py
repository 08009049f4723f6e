"""Corrections of a centre-of-mass shift field: its orientation on the scan, the descan plane,
and the guess of the orientation from the field itself.

Shifts are ``(y, x)`` pairs over the scan grid (rows = scan y, columns = scan x); a 1-d scan
is one row. The orientation is the flip ``y -> -y`` (``flip_y``) followed by the rotation by
``θ`` (``scan_rotation``), the 2×2 matrix :func:`orientation` acting on column vectors
``(y, x)``::

    y' = y cos θ + x sin θ        x' = x cos θ - y sin θ

Descan coefficients are a 3×2 matrix ``C`` (rows: offset, d/drow, d/dcol; columns: y, x, as
LiberTEM's ``regression``): the descan shift at scan position ``(row, col)`` is
``[1, row, col] @ C``. Fitting and subtracting a plane commutes with the orientation (a linear
map of the shifts), so coefficients fitted in the detector frame become the scan frame's by
``C @ O.T``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: The descan corrections: none, the mean shift, or a least-squares plane in scan y and x.
DESCAN_FITS = ("none", "constant", "plane")


def orientation(*, flip_y: bool, degrees: float) -> np.ndarray:
    """The 2×2 matrix that flips (``y -> -y``) then rotates by ``degrees`` a column ``(y, x)``."""
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    rotate = np.array([[cos, sin], [-sin, cos]])
    flip = np.diag([-1.0 if flip_y else 1.0, 1.0])
    return rotate @ flip


def apply_orientation(field: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``field`` (..., 2) of ``(y, x)`` rows, each mapped by ``matrix``."""
    return field @ matrix.T


@functools.lru_cache(maxsize=8)
def scan_inputs(grid: tuple[int, int]) -> np.ndarray:
    """``[1, row, col]`` for every position of a ``(ny, nx)`` grid: shape ``(ny, nx, 3)``
    (read-only: one array per grid is kept, as the partial results ask for it again)."""
    rows, cols = np.indices(grid, dtype=np.float64)
    out = np.stack([np.ones(grid), rows, cols], axis=-1)
    out.flags.writeable = False
    return out


def fit_descan(field: np.ndarray, fit: str) -> np.ndarray:
    """The 3×2 descan coefficients of ``field`` (``(..., ny, nx, 2)``, NaN where undefined) over
    its defined positions: zero (``none``), the mean (``constant``) or the least-squares plane
    in scan row and column (``plane``; a 1-d scan has no row slope). Leading axes are 2-d
    slices of one scan: one plane in row and column fits them all."""
    coefficients = np.zeros((3, 2))
    valid = np.isfinite(field).all(axis=-1)
    if fit == "none" or not valid.any():
        return coefficients
    if fit == "constant":
        coefficients[0] = field[valid].mean(axis=0)
        return coefficients
    inputs = np.broadcast_to(scan_inputs(field.shape[-3:-1]), (*field.shape[:-1], 3))
    target = field
    if not valid.all():
        inputs, target = inputs[valid], target[valid]
    inputs, target = inputs.reshape(-1, 3), target.reshape(-1, 2)
    # the normal equations of 3 unknowns (rows and columns are indices: well conditioned);
    # their minimum-norm solution is the least-squares plane's, also where a scan has one
    # row (no row slope)
    return np.linalg.lstsq(inputs.T @ inputs, inputs.T @ target, rcond=None)[0]


def subtract_descan(field: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """``field`` (``(..., ny, nx, 2)``) minus the descan plane ``[1, row, col] @ coefficients``."""
    return field - scan_inputs(field.shape[-3:-1]) @ coefficients


@dataclass(frozen=True)
class Guess:
    """The orientation and centre guessed from a shift field (see :func:`guess_orientation`)."""

    scan_rotation: float
    flip_y: bool
    cy: float
    cx: float

    def as_array(self) -> np.ndarray:
        return np.array([self.scan_rotation, float(self.flip_y), self.cy, self.cx])


def field_gradients(field: np.ndarray) -> np.ndarray:
    """``g[i, j]`` = the derivative of component ``i`` (y, x) of the ``(..., ny, nx, 2)``
    ``field`` along scan axis ``j`` (row, col), by :func:`scan_gradient`: shape
    ``(2, 2, ..., ny, nx)`` (leading axes are separate 2-d slices)."""
    return np.array([scan_gradient(field[..., 0]), scan_gradient(field[..., 1])])


def divergence_curl(gradients: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(∂x'/∂col + ∂y'/∂row, ∂y'/∂col - ∂x'/∂row)`` of the field oriented by ``matrix``, from
    the unoriented field's :func:`field_gradients` (the orientation is linear: the oriented
    field's derivatives are the same combination of the derivatives)."""
    turned = np.einsum("ik,kj...->ij...", matrix, gradients)
    return turned[1, 1] + turned[0, 0], turned[0, 1] - turned[1, 0]


def guess_orientation(gradients: np.ndarray) -> tuple[float, bool]:
    """``(scan_rotation in degrees in (-180, 180], flip_y)`` for a detector-frame shift field
    (given by its :func:`field_gradients`) of an electrostatic specimen with atom columns
    (LiberTEM's ``guess_corrections``, solved exactly instead of on a 1° grid).

    The oriented field's curl is ``cos θ · C + sin θ · D`` (``C``, ``D``: the curl and
    divergence of the flipped or unflipped field at θ = 0), so its mean square over the
    positions where both are defined is a quadratic form in ``(cos θ, sin θ)``, least at the
    eigenvector of the smallest eigenvalue. The flip is the one with the smaller least RMS curl;
    of θ and θ + 180° (same curl, opposite divergence) the one whose divergence has more values
    in the lowest fifth of its symmetric range than in the highest (deflection towards the
    nuclei: negative divergence at the columns).
    """
    best: tuple[float, float, bool, np.ndarray, np.ndarray] | None = None
    (dy_drow, dy_dcol), (dx_drow, dx_dcol) = gradients
    defined = np.isfinite(dy_drow + dy_dcol + dx_drow + dx_dcol)
    dy_drow, dy_dcol = dy_drow[defined], dy_dcol[defined]
    dx_drow, dx_dcol = dx_drow[defined], dx_dcol[defined]
    for flip_y in (False, True):
        sign = -1.0 if flip_y else 1.0  # y -> -y flips the sign of y's derivatives
        c = sign * dy_dcol - dx_drow
        d = dx_dcol + sign * dy_drow
        if c.size == 0:
            continue
        form = np.array([[c @ c, c @ d], [c @ d, d @ d]]) / c.size
        values, vectors = np.linalg.eigh(form)
        theta = math.atan2(vectors[1, 0], vectors[0, 0])
        if best is None or values[0] < best[0]:
            best = (values[0], theta, flip_y, c, d)
    if best is None:
        return 0.0, False
    _, theta, flip_y, c, d = best
    if _positive_tail_heavier(math.cos(theta) * d - math.sin(theta) * c):
        theta += math.pi
    degrees = math.degrees(theta) % 360.0
    return (degrees - 360.0 if degrees > 180.0 else degrees), flip_y


def _positive_tail_heavier(divergence: np.ndarray) -> bool:
    """More values in the highest fifth of ``[-max|div|, max|div|]`` than in the lowest."""
    reach = float(np.abs(divergence).max())
    if reach == 0.0:
        return False
    lowest = np.count_nonzero(divergence < -0.6 * reach)
    highest = np.count_nonzero(divergence >= 0.6 * reach)
    return bool(lowest < highest)


def scan_gradient(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(∂/∂row, ∂/∂col)`` over the last two axes by central differences (one-sided at the
    edges); 0 along an axis of length 1."""
    out = []
    for axis in (-2, -1):
        if grid.shape[axis] < 2:
            out.append(np.zeros_like(grid))
        else:
            out.append(np.gradient(grid, axis=axis))
    return out[0], out[1]
