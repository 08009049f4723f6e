"""Single-sideband (SSB) ptychography: the object's phase and amplitude from a focused-probe scan.

Parameters: the beam energy (keV), the convergence semi-angle (mrad), the detector pixel size
(mrad) and the scan step (nm), each taken from the dataset's calibration when left out; the
beam's centre ``cx, cy`` on the detector (px); ``scan_rotation`` (deg) and ``flip_y``, the
orientation of the scan against the detector as the centre of mass takes it.

Each partition reduces its frames to the half spectrum ``G(Q)`` of :mod:`apps.core.ssb`
(complex128 ``(ny // 2 + 1, nx)``); partitions add up in any order, and every partial sum gives
a partial image, so the phase builds up live. Results (``nav_shape``): ``phase`` (rad),
``amplitude`` (the square root of the modulus of the inverse transform, which is linear in the
intensities) and ``complex``; NaN until a frame has arrived. docs/analyses.md gives the formula,
the conventions and the signs.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from apps.core.analyses.base import ReduceAnalysis, TileReduction
from apps.core.analyses.com_corrections import orientation
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.geometry_params import CX, CY, FLIP_Y, SCAN_ROTATION
from apps.core.errors import ParameterError
from apps.core.io.base import Partition
from apps.core.ops import compute_dtype
from apps.core.ssb import (
    RowBlocks,
    SSBGeometry,
    TrotterMasks,
    aperture,
    reconstruct,
    trotter_masks,
)

#: The masks are kept in memory on every worker: at most this many bytes.
MAX_MASK_BYTES = 2 * 2**30


@functools.lru_cache(maxsize=2)
def masks_for(geometry: SSBGeometry, dtype: np.dtype) -> TrotterMasks:
    """The trotter masks in ``dtype``, made once per worker process and geometry."""
    return trotter_masks(geometry, dtype)


class SSBReduction(TileReduction):
    """A partition's frames to its part of the half spectrum."""

    def __init__(self, geometry: SSBGeometry, dtype: np.dtype) -> None:
        self.geometry = geometry
        self.compute = compute_dtype(dtype)
        self.work_itemsize = np.dtype(dtype).itemsize  # tiles are read as they are stored

    def start(self, partition: Partition) -> RowBlocks:
        return RowBlocks(self.geometry, masks_for(self.geometry, self.compute))

    def add(self, value: RowBlocks, first: int, tile: np.ndarray) -> RowBlocks:
        value.add(first, tile.reshape(tile.shape[0], -1))
        return value

    def __call__(self, partition: Partition, roi: Any, should_stop: Any) -> np.ndarray:
        return super().__call__(partition, roi, should_stop).finish()


class SSBAnalysis(ReduceAnalysis):
    """Phase and amplitude of a weak-phase object by single-sideband ptychography."""

    declaration = AnalysisDeclaration(
        name="ssb",
        title="SSB ptychography",
        summary="The object's phase and amplitude by single-sideband ptychography, from the "
        "beam energy, convergence semi-angle, detector pixel size and scan step (the dataset's "
        "calibration where known); builds up live.",
        params=(
            Param(
                "beam_energy",
                "number",
                "Beam energy.",
                unit="keV",
                positive=True,
                maximum=10_000,
                calibration="beam_energy",
            ),
            Param(
                "convergence_angle",
                "number",
                "Convergence semi-angle of the probe (the bright-field disk's radius).",
                unit="mrad",
                positive=True,
                maximum=1_000,
                calibration="convergence_angle",
            ),
            Param(
                "detector_pixel",
                "number",
                "Size of one detector pixel as an angle.",
                unit="mrad",
                positive=True,
                calibration="detector_pixel",
            ),
            Param(
                "scan_step",
                "number",
                "Distance between two scan positions.",
                unit="nm",
                positive=True,
                calibration="scan_step",
            ),
            dataclasses.replace(CX, help="Column of the beam's centre (the optical axis)."),
            dataclasses.replace(CY, help="Row of the beam's centre (the optical axis)."),
            SCAN_ROTATION,
            FLIP_Y,
        ),
        results=(
            Result(
                "phase",
                "nav",
                "Phase of the object's transmission function.",
                unit="rad",
                dtype="float64",
                display="signed image",
            ),
            Result(
                "amplitude",
                "nav",
                "Amplitude of the transmission function (square root of the modulus).",
                dtype="float64",
            ),
            Result(
                "complex",
                "nav",
                "The transmission function, amplitude·exp(i phase).",
                dtype="complex",
            ),
        ),
        preview="phase",
        widget="beam",
        help="Place the cross on the centre of the bright-field disk; the beam energy, "
        "convergence semi-angle, detector pixel and scan step come from the dataset's "
        "calibration (dataset page) unless typed here.",
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        if len(self.nav_shape) != 2:
            raise ParameterError(
                "analysis", f"ssb needs a 2-d scan, got the scan shape {list(self.nav_shape)}."
            )
        radius = params["convergence_angle"] / params["detector_pixel"]
        disk = aperture(
            (self.sig_shape[0], self.sig_shape[1]), cy=params["cy"], cx=params["cx"], r=radius
        )
        if radius < 1 or not disk.any():
            raise ParameterError(
                "convergence_angle",
                f"with detector_pixel={params['detector_pixel']:g} mrad gives a bright-field "
                f"disk of radius {radius:.3g} px around ({params['cy']:g}, {params['cx']:g}); "
                "it must be at least 1 px and lie on the detector.",
            )
        ny, nx = self.nav_shape
        nbytes = (ny // 2 + 1) * nx * np.count_nonzero(disk) * 4
        if nbytes > MAX_MASK_BYTES:
            raise ParameterError(
                "detector_pixel",
                f"gives a bright-field disk of {np.count_nonzero(disk)} pixels: the masks for a "
                f"{ny} x {nx} scan would take {nbytes / 2**30:.1f} GiB, more than "
                f"{MAX_MASK_BYTES / 2**30:.0f} GiB (bin the detector).",
            )
        return params

    @property
    def geometry(self) -> SSBGeometry:
        p = self.params
        # detector to scan directions, as com turns its shifts
        transform = orientation(flip_y=p["flip_y"], degrees=p["scan_rotation"])
        return SSBGeometry(
            nav_shape=(self.nav_shape[0], self.nav_shape[1]),
            sig_shape=(self.sig_shape[0], self.sig_shape[1]),
            beam_energy=p["beam_energy"],
            convergence_angle=p["convergence_angle"],
            detector_pixel=p["detector_pixel"],
            scan_step=p["scan_step"],
            cy=p["cy"],
            cx=p["cx"],
            transform=tuple(tuple(float(v) for v in row) for row in transform),  # type: ignore[arg-type]
        )

    def task(self) -> SSBReduction:
        return SSBReduction(self.geometry, self.dtype)

    def combine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def finish(self, value: np.ndarray | None) -> dict[str, np.ndarray]:
        out = reconstruct(value, self.geometry.nav_shape)
        complex_dtype = np.result_type(compute_dtype(self.dtype), np.complex64)
        out["complex"] = out["complex"].astype(complex_dtype)
        return out
