"""Tilt-corrected bright field (parallax): each bright-field pixel's virtual image, shifted by
the parallax its tilt gives a defocused probe, averaged.

Parameters: ``shifts`` = ``measured`` | ``defocus`` and the bright-field disk ``cx, cy, r``
(detector pixels; the pixels whose centres lie within ``r``). ``measured``: the shifts are
measured by cross-correlation and fitted to ``d = A u`` (:func:`apps.core.parallax.
fit_shift_matrix`). ``defocus``: ``A = D R(θ) F`` from ``defocus`` ``Δf`` (nm), ``scan_step``
and ``detector_pixel`` (nm and mrad; both default from the dataset's calibration) as ``D = Δf
θ_px / step`` (scan pixels per detector pixel), ``scan_rotation`` ``θ`` (degrees) and
``flip_y``, as the ``com`` analysis rotates. Both modes take ``flip_y``: the fitted ``A F`` (``F`` the flip) is
split into ``D R(θ)`` and the astigmatism. Conventions in :mod:`apps.core.parallax` and docs/analyses.md.

Each partition gives, per frame, the values of its bright-field pixels (one row of ``m``
values); the rest is post-processing of the rows read so far, so the image builds up live as
partitions arrive, in any order. Per frame the mean over the bright-field pixels is subtracted
(as libertem-parallax does); frames not read (yet, or outside the scan ROI) count as 0 then.
The shifts are measured on each pixel's image less its own mean over the frames read; while
the scan is read they are fitted again each time the frames read have doubled.

Results: ``image`` (scan, the mean over the bright-field pixels of their images shifted back by
``d`` rounded to whole scan pixels, periodic at the scan's edges), ``phase_flipped`` (the image
with its Fourier coefficients multiplied by the sign of the transfer ``sin χ(q)``, ``χ = -π λ
Δf q²``, from ``beam_energy``; defocus mode only, NaN with measured shifts), ``bright_field`` (scan, the
plain mean of the bright-field pixels, NaN where not read), ``shift_y``/``shift_x`` (detector,
``d`` of each bright-field pixel in scan pixels, NaN elsewhere), ``defocus`` ``[D]``,
``rotation`` ``[θ]`` and ``astigmatism`` ``[a1, a2]`` (the fitted, or given, ``A``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from apps.core import parallax
from apps.core.analyses.base import FrameRowsAnalysis, FrameTask
from apps.core.analyses.declaration import AnalysisDeclaration, Mode, Param, Result
from apps.core.analyses.geometry_params import CX, CY, FLIP_Y, SCAN_ROTATION
from apps.core.errors import ParameterError
from apps.core.optics import electron_wavelength

#: The most values (frames x bright-field pixels) a job keeps: 512 MiB of float64.
MAX_VALUES = 2**26

R = Param(
    "r", "number", "Radius of the bright-field disk.", unit="px", positive=True, bound="reach"
)
DEFOCUS = Param(
    "defocus",
    "number",
    "Defocus Δf, positive as abTEM's defocus (C10 = -Δf).",
    unit="nm",
    suggested=10.0,
)
SCAN_STEP = Param(
    "scan_step", "number", "Scan step.", unit="nm", positive=True, calibration="scan_step"
)
DETECTOR_PIXEL = Param(
    "detector_pixel",
    "number",
    "Detector pixel size.",
    unit="mrad",
    positive=True,
    calibration="detector_pixel",
)
BEAM_ENERGY = Param(
    "beam_energy",
    "number",
    "Beam energy (for the phase-flipped image).",
    unit="keV",
    positive=True,
    calibration="beam_energy",
)
SHIFTS = Param(
    "shifts",
    "choice",
    "Where the shifts come from: measured in the data, or from a known defocus.",
    choices=("measured", "defocus"),
)


class BrightFieldPixels(FrameTask):
    """The values of the bright-field pixels ``pixels`` (flat indices) of every frame."""

    def __init__(self, pixels: np.ndarray, dtype: np.dtype) -> None:
        self.pixels = pixels
        self.width = len(pixels)
        self.work_dtype = np.dtype(dtype)

    def convert(self, tile: np.ndarray) -> np.ndarray:
        return tile  # read as it is: only the chosen pixels become float64 (a copy)

    def reduce(self, tile: np.ndarray) -> np.ndarray:
        return tile[:, self.pixels].astype(np.float64)


class ParallaxAnalysis(FrameRowsAnalysis):
    """Tilt-corrected bright field with measured or defocus-derived shifts."""

    declaration = AnalysisDeclaration(
        name="parallax",
        title="Tilt-corrected bright field (parallax)",
        summary="The bright-field pixels' images shifted by their parallax and averaged: a "
        "phase-contrast image from a defocused probe, with the fitted defocus and rotation.",
        params=(SHIFTS,),
        modes=(
            Mode(
                "parallax:measured",
                "Parallax, measured shifts",
                (CX, CY, R, FLIP_Y),
                widget="disk",
                help="Draw the bright-field disk; the shifts are measured and fitted.",
                fixed={"shifts": "measured"},
            ),
            Mode(
                "parallax:defocus",
                "Parallax, shifts from defocus",
                (CX, CY, R, DEFOCUS, SCAN_STEP, DETECTOR_PIXEL, BEAM_ENERGY, SCAN_ROTATION, FLIP_Y),
                widget="disk",
                help="Draw the bright-field disk and give the defocus and scan rotation.",
                fixed={"shifts": "defocus"},
            ),
        ),
        results=(
            Result(
                "image",
                "nav",
                "Mean of the bright-field pixels' images, each shifted back by its parallax.",
                unit="data",
                dtype="float64",
            ),
            Result(
                "phase_flipped",
                "nav",
                "The image with the contrast the defocus reversed turned back (defocus mode; "
                "NaN with measured shifts).",
                unit="data",
                dtype="float64",
            ),
            Result(
                "bright_field",
                "nav",
                "Mean of the bright-field pixels, not shifted.",
                unit="data",
                dtype="float64",
            ),
            Result(
                "shift_y",
                "sig",
                "Scan-row shift of each bright-field pixel's image.",
                unit="scan px",
                dtype="float64",
                display="signed image",
            ),
            Result(
                "shift_x",
                "sig",
                "Scan-column shift of each bright-field pixel's image.",
                unit="scan px",
                dtype="float64",
                display="signed image",
            ),
            Result(
                "defocus",
                "bins",
                "Defocus D of the shifts d = D R(θ) u.",
                unit="scan px per px",
                dtype="float64",
            ),
            Result(
                "rotation",
                "bins",
                "Rotation θ from detector to scan axes (-90 to 90).",
                unit="deg",
                dtype="float64",
            ),
            Result(
                "astigmatism",
                "bins",
                "Two-fold astigmatism a1, a2 of the shifts.",
                unit="scan px per px",
                dtype="float64",
            ),
        ),
        preview="image",
    )

    #: The last fit of the measured shifts while the scan is read: (frames read, A).
    _fitted: tuple[int, np.ndarray] | None = None

    @functools.cached_property
    def _pixels(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        frame = (self.sig_shape[0], self.sig_shape[1])
        return parallax.bright_field_pixels(frame, cy=p["cy"], cx=p["cx"], r=p["r"])

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        self.extent.plane_only("parallax")
        if len(self.sig_shape) != 2:
            raise ParameterError("dataset", "parallax needs two-dimensional frames.")
        frame = (self.sig_shape[0], self.sig_shape[1])
        pixels, _ = parallax.bright_field_pixels(
            frame, cy=params["cy"], cx=params["cx"], r=params["r"]
        )
        if len(pixels) < parallax.FIT_MIN_PIXELS:
            raise ParameterError(
                "r",
                f"the disk must hold at least {parallax.FIT_MIN_PIXELS} detector pixels of the "
                f"{self.sig_shape[0]} x {self.sig_shape[1]} frame, it holds {len(pixels)}.",
            )
        if len(pixels) * self.n_frames > MAX_VALUES:
            most = MAX_VALUES // self.n_frames
            raise ParameterError(
                "r",
                f"the disk holds {len(pixels)} detector pixels; with {self.n_frames} frames "
                f"at most {most} fit in memory: make it smaller.",
            )
        return params

    @property
    def row_dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def row_width(self) -> int:
        return len(self._pixels[0])

    def task(self) -> BrightFieldPixels:
        return BrightFieldPixels(self._pixels[0], self.dtype)

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        grid = _scan_grid(self.nav_shape)
        values = rows.reshape(-1, rows.shape[-1])
        read = ~np.isnan(values).any(axis=1)
        matrix = self._matrix(values, read, grid) if read.any() else np.full((2, 2), np.nan)
        shifts = self._pixels[1] @ matrix.T
        if read.any():
            image = parallax.centred_shifted_mean(values, shifts, grid)
        else:
            image = np.full(grid, np.nan)
        out = {
            "image": image.reshape(self.nav_shape),
            "phase_flipped": self._phase_flipped(image).reshape(self.nav_shape),
            "bright_field": values.mean(axis=1).reshape(self.nav_shape),
        }
        for axis, name in enumerate(("shift_y", "shift_x")):
            plane = np.full(math.prod(self.sig_shape), np.nan)
            plane[self._pixels[0]] = shifts[:, axis]
            out[name] = plane.reshape(self.sig_shape)
        # A = (D R(θ) + astigmatism) F: the flip F (its own inverse) comes off first
        flip = np.diag([-1.0 if self.params["flip_y"] else 1.0, 1.0])
        return out | parallax.aberrations(matrix @ flip)

    def _phase_flipped(self, image: np.ndarray) -> np.ndarray:
        p = self.params
        if p["shifts"] != "defocus":
            return np.full(image.shape, np.nan)
        kernel = parallax.phase_flip_kernel(
            image.shape,
            defocus_nm=p["defocus"],
            scan_step=p["scan_step"],
            wavelength_nm=electron_wavelength(p["beam_energy"]),
        )
        return parallax.phase_flipped(image, kernel)

    def _matrix(self, values: np.ndarray, read: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        p = self.params
        if p["shifts"] == "defocus":
            defocus = parallax.defocus_in_pixels(
                p["defocus"], scan_step=p["scan_step"], detector_pixel=p["detector_pixel"]
            )
            return parallax.shift_matrix(
                defocus=defocus, rotation_deg=p["scan_rotation"], flip_y=p["flip_y"]
            )
        # While the scan is read the fit is repeated only once the frames read have doubled
        # since the last one (partial results come after every partition); the final result
        # is always fitted on all the frames.
        count = int(read.sum())
        last = self._fitted
        if last is not None and count < read.size and count < 2 * last[0]:
            return last[1]
        # Measured on each pixel's image less its mean over the frames read: the frame's mean
        # over the disk, which the image subtracts, is common to all pixels and not shifted.
        seen = values[read]
        centred = np.zeros_like(values)
        centred[read] = seen - seen.mean(axis=0)
        images = np.ascontiguousarray(centred.T).reshape(-1, *grid)
        matrix = parallax.fit_shift_matrix(images, self._pixels[1], p["r"])
        self._fitted = (count, matrix)
        return matrix


def _scan_grid(nav_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(ny, nx)``: a 1-d scan is one row."""
    return (1, nav_shape[0]) if len(nav_shape) == 1 else (nav_shape[0], nav_shape[1])
