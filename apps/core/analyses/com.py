"""Centre of mass (COM / first moment) of each frame inside a disk, its corrections (descan,
orientation on the scan) and the field's properties, among them the phase it is the gradient of.

Parameters: ``cx, cy, r`` (the disk, ``r > 0``), optional ``ri`` (``0 <= ri < r``: use the
ring ``ri < d <= r`` instead), ``scan_rotation`` in degrees (default 0) and ``flip_y``
(default false), each also ``"auto"``; ``descan`` (``none``, ``constant``, ``plane``) or
``descan_reference`` (3×2 coefficients in the detector frame; in the API the id of a finished
``com`` job, whose ``descan`` result the portal turns into them), ``ricom_radius``.

Per frame the intensity-weighted mean pixel position inside the disk, minus ``(cy, cx)``,
gives the shift ``(y, x)`` (the detector frame); frames with zero total weight give NaN. Then,
in this order (see :mod:`apps.core.analyses.com_corrections` for the formulas):

1. descan: the mean or least-squares plane of the shifts over the defined positions, or the
   reference's plane, is subtracted;
2. ``"auto"`` orientation: the flip and rotation guessed from the de-scanned field replace
   ``"auto"`` (the guess is always a result, ``guess``);
3. the flip ``y -> -y`` when ``flip_y``, then the rotation by ``θ = scan_rotation``::

    x' = x cos θ - y sin θ        y' = x sin θ + y cos θ

Results (``nav_shape``, compute dtype, NaN outside the scan ROI): ``x``, ``y``,
``magnitude = hypot(x, y)``, and over the scan grid (rows = scan y, columns = scan x)
``divergence = ∂x/∂col + ∂y/∂row`` and ``curl = ∂y/∂col - ∂x/∂row`` by :func:`numpy.gradient`
(central differences inside, one-sided at the edges). Along a scan axis of length 1 (a single
row or column, or a 1-d scan, which is treated as one row) the derivative is taken as 0.
Divergence and curl are NaN where the shift is NaN and at its neighbours. ``icom`` and
``ricom``: the phase with ``∇φ = (x, y)`` (:mod:`apps.core.analyses.com_phase`). ``descan``
(3×2, float64): the coefficients subtracted, in the scan frame (LiberTEM's ``regression``);
``guess`` (float64): ``[scan_rotation, flip_y (0/1), cy, cx]`` guessed from the field, the
centre being ``(cy, cx)`` plus the mean raw shift.

All of it is computed from the rows merged so far, so partial results do not depend on the
order partitions finish in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from apps.core import masks
from apps.core.analyses import com_corrections as corrections
from apps.core.analyses import geometry
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.com_phase import icom, ricom
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.geometry_params import CX, CY, FLIP_Y, SCAN_ROTATION
from apps.core.analyses.params import AUTO
from apps.core.errors import ParameterError
from apps.core.masks import MaskStack
from apps.core.ops import compute_dtype

PARAMS = (
    CX,
    CY,
    Param("r", "number", "Disk radius.", unit="px", positive=True, bound="reach"),
    Param(
        "ri",
        "number",
        "Inner radius (< r): use the ring ri < d <= r.",
        unit="px",
        default=0.0,
        minimum=0,
        bound="reach",
    ),
    dataclasses.replace(
        SCAN_ROTATION,
        help=SCAN_ROTATION.help + ' "auto": the rotation that minimises the RMS curl.',
        auto=True,
    ),
    dataclasses.replace(
        FLIP_Y,
        help=FLIP_Y.help + ' "auto": the flip with the smaller least RMS curl.',
        auto=True,
    ),
    Param(
        "descan",
        "choice",
        "Subtract the mean shift (constant) or a least-squares plane in scan y and x (plane).",
        default="none",
        choices=corrections.DESCAN_FITS,
    ),
    Param(
        "descan_reference",
        "job",
        "A finished com job on a vacuum scan of the same shape: subtract its descan plane.",
        optional=True,
    ),
    Param(
        "ricom_radius",
        "integer",
        "riCOM kernel reach: (2 n + 1)² scan positions.",
        unit="scan px",
        default=8,
        minimum=1,
        maximum=4096,
    ),
)

PHASE_UNIT = "px × scan px"


class COMAnalysis(MaskAnalysis):
    """Centre-of-mass shifts, their magnitude, divergence, curl and phase (iCoM, riCOM)."""

    #: the state the results were last computed for, and those results
    _shown: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
    declaration = AnalysisDeclaration(
        name="com",
        title="Centre of mass (COM)",
        summary="The centre-of-mass shift of each frame inside a disk (or ring), corrected for "
        "descan and the scan's orientation, its divergence and curl over the scan, and the "
        "phase it is the gradient of (iCoM, riCOM).",
        params=PARAMS,
        results=(
            Result("x", "nav", "Shift along scan x.", unit="px", display="signed image"),
            Result("y", "nav", "Shift along scan y.", unit="px", display="signed image"),
            Result("magnitude", "nav", "Length of the shift, hypot(x, y).", unit="px"),
            Result(
                "divergence",
                "nav",
                "dx/dcol + dy/drow over the scan grid.",
                unit="px per scan px",
                display="signed image",
            ),
            Result(
                "curl",
                "nav",
                "dy/dcol - dx/drow over the scan grid.",
                unit="px per scan px",
                display="signed image",
            ),
            Result(
                "icom",
                "nav",
                "Integrated COM: the phase whose gradient is (x, y), by a Fourier Poisson "
                "solve with mirrored edges; mean 0.",
                unit=PHASE_UNIT,
            ),
            Result(
                "ricom",
                "nav",
                "Real-space integrated COM with a (2 ricom_radius + 1)² kernel; mean 0.",
                unit=PHASE_UNIT,
            ),
            Result(
                "descan",
                "values",
                "Descan coefficients subtracted (3×2: offset, d/dy, d/dx per y, x component).",
                unit="px; px per scan px",
                dtype="float64",
            ),
            Result(
                "guess",
                "values",
                "Guessed corrections: scan_rotation (deg), flip_y (0/1), cy and cx (px).",
                dtype="float64",
            ),
        ),
        preview="magnitude",
        widget="com",
        field=("x", "y"),
        live=("icom", "ricom"),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        cy, cx, ri, r = params["cy"], params["cx"], params["ri"], params["r"]
        geometry.check_ring(ri, r, inner="ri", outer="r")
        weights = masks.com_weights(self.sig_shape, cy=cy, cx=cx, r=r, ri=ri)
        geometry.check_covers(
            weights[0], sig_shape=self.sig_shape, cy=cy, cx=cx, r=r, field="r", what="disk"
        )
        reference = params["descan_reference"]
        if reference is not None:
            if params["descan"] != "none":
                raise ParameterError(
                    "descan_reference",
                    f"replaces descan (got descan {params['descan']!r}): give one of the two.",
                )
            params["descan_reference"] = descan_coefficients(reference)
        return params

    def merge(self, state: np.ndarray, partition: Any, result: np.ndarray) -> np.ndarray:
        self._shown = None
        return super().merge(state, partition, result)

    def results(self, state: np.ndarray) -> dict[str, np.ndarray]:
        # The phases and the guess cost more than the rest: the finish's results of the state
        # the last progress report saw are that report's.
        shown = getattr(self, "_shown", None)
        if shown is None or shown[0] is not state:
            shown = (state, super().results(state))
            self._shown = shown
        return shown[1]

    def mask_stack(self) -> MaskStack:
        dtype = compute_dtype(self.dtype)
        q = self.params
        weights = masks.com_weights(
            self.sig_shape, cy=q["cy"], cx=q["cx"], r=q["r"], ri=q["ri"], dtype=dtype
        )
        return MaskStack(weights)

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        # float64 post-processing: the division and the differences add no float32 rounding
        y, x = com_shifts(rows.astype(np.float64))
        # (slices, ny, nx, 2): a scan of more than two axes is a stack of 2-d slices
        grid = (self.extent.slices, *self.extent.scan_grid)
        raw = np.stack([y.reshape(grid), x.reshape(grid)], axis=-1)
        q = self.params
        if q["descan_reference"] is not None:
            descan = q["descan_reference"]
        else:
            descan = corrections.fit_descan(raw, q["descan"])
        field = corrections.subtract_descan(raw, descan)
        gradients = corrections.field_gradients(field)
        guess = self.guess(raw, gradients)
        flip_y = guess.flip_y if q["flip_y"] == AUTO else q["flip_y"]
        degrees = guess.scan_rotation if q["scan_rotation"] == AUTO else q["scan_rotation"]
        matrix = corrections.orientation(flip_y=flip_y, degrees=degrees)
        field = corrections.apply_orientation(field, matrix)
        divergence, curl = corrections.divergence_curl(gradients, matrix)
        # central differences skip the position itself: keep NaN where the shift is
        # undefined (outside the scan ROI, no weight, not yet computed)
        undefined = np.isnan(field).any(axis=-1)
        divergence[undefined] = np.nan
        curl[undefined] = np.nan
        out = {
            "x": field[..., 1],
            "y": field[..., 0],
            "magnitude": np.hypot(field[..., 0], field[..., 1]),
            "divergence": divergence,
            "curl": curl,
            "icom": np.stack([icom(plane) for plane in field]),
            "ricom": np.stack([ricom(plane, q["ricom_radius"]) for plane in field]),
        }
        results = {k: v.reshape(self.nav_shape).astype(rows.dtype) for k, v in out.items()}
        results["descan"] = descan @ matrix.T
        results["guess"] = guess.as_array()
        return results

    def guess(self, raw: np.ndarray, gradients: np.ndarray) -> corrections.Guess:
        """The orientation guessed from the de-scanned field's ``gradients``, the centre from
        the mean ``raw`` shift (NaN before any frame is in)."""
        degrees, flip_y = corrections.guess_orientation(gradients)
        defined = np.isfinite(raw).all(axis=-1)
        mean = raw[defined].mean(axis=0) if defined.any() else np.full(2, np.nan)
        return corrections.Guess(
            scan_rotation=degrees,
            flip_y=flip_y,
            cy=self.params["cy"] + float(mean[0]),
            cx=self.params["cx"] + float(mean[1]),
        )


def descan_coefficients(value: Any) -> np.ndarray:
    """``value`` as 3×2 finite descan coefficients in the detector frame, or ParameterError."""
    expected = (
        "3×2 descan coefficients (offset, d/dy, d/dx per y, x component, detector frame); "
        "in the API the id of a finished com job"
    )
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        raise ParameterError(
            "descan_reference", f"job {value} was not resolved to its descan result; {expected}."
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("descan_reference", f"must be {expected}.") from None
    if array.shape != (3, 2) or not np.isfinite(array).all():
        raise ParameterError("descan_reference", f"must be finite {expected}.")
    return array


def com_shifts(moments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x)`` shifts from ``moments[..., 0:3] = [Σw, Σ(y-cy)w, Σ(x-cx)w]``; NaN where Σw = 0."""
    weight = moments[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(weight != 0, moments[..., 1] / weight, np.nan)
        x = np.where(weight != 0, moments[..., 2] / weight, np.nan)
    return y, x
