"""Strain mapping: Bragg disks found in every frame, a lattice fitted to them, and its strain
against a reference lattice.

Parameters (detector pixels, ``(y, x)`` as in LiberTEM-blobfinder): the zero-order disk
``(cy, cx)`` and two reciprocal lattice vectors ``a = (ay, ax)``, ``b = (by, bx)`` that put a
disk at ``zero + i a + j b``; the disk radius ``r``; ``search``, how far a disk may lie from
there; ``descan``, how far the whole pattern may move; ``tolerance`` for the fit's rejection
pass; ``log`` to correlate the log of the frames; ``scan_rotation`` and ``flip_y`` (as for
COM) to give the strain in the scan's axes instead of the detector's. ``reference`` is
``median`` (the median lattice over the scan) or ``region`` (the median over the scan
rectangle ``ref_y, ref_x, ref_height, ref_width``).

Per frame (:class:`StrainTask`): correlation with a disk template and sub-pixel peaks at every
lattice point at least ``search + r`` inside the frame (:mod:`apps.core.bragg`), then the
weighted lattice fit (:func:`apps.core.lattice.fit_lattice`). After the scan (:meth:`post`):
the reference lattice and each frame's strain against it (:mod:`apps.core.lattice` has the
formulas and sign conventions; docs/analyses.md explains them).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from apps.core import bragg, lattice
from apps.core.analyses.base import FrameRowsAnalysis, FrameTask, PartitionTask
from apps.core.analyses.declaration import AnalysisDeclaration, Mode, Param, Result
from apps.core.analyses.geometry_params import FLIP_Y, SCAN_ROTATION
from apps.core.errors import ParameterError


class StrainTask(FrameTask):
    """Each frame's fitted lattice: rows of :data:`apps.core.lattice.LATTICE_COLUMNS`."""

    width = len(lattice.LATTICE_COLUMNS)
    # the correlation by FFT in float32: twice as fast, and the disks move by about 1e-6 px
    work_dtype = np.dtype(np.float32)

    def __init__(
        self,
        *,
        sig_shape: tuple[int, int],
        r: float,
        log: bool,
        indices: np.ndarray,
        expected: np.ndarray,
        zero: np.ndarray,
        search: float,
        descan: float,
        tolerance: float,
    ) -> None:
        self.sig_shape = sig_shape
        self.r = r
        self.log = log
        self.indices = indices
        self.expected = expected
        self.starts = np.rint(expected).astype(np.int64)
        self.zero_start = np.rint(zero).astype(np.int64)
        self.margin = search + max(r, 1.0)
        self.offsets = bragg.window_offsets(search)
        self.descan_offsets = bragg.window_offsets(descan) if descan > 0 else None
        self.tolerance = tolerance

    @functools.cached_property
    def spectrum(self) -> np.ndarray:
        # built on the worker at the first tile: the task travels without it
        return bragg.disk_spectrum(self.sig_shape, self.r).astype(np.complex64)

    def reduce(self, tile: np.ndarray) -> np.ndarray:
        frames = tile.reshape(len(tile), *self.sig_shape)
        corr = bragg.correlate(frames, self.spectrum, log=self.log)
        if self.descan_offsets is None:
            positions, weights = bragg.find_peaks(corr, self.starts, self.offsets)
        else:
            positions, weights = self._follow(corr, self.descan_offsets)
        return lattice.fit_lattice(self.indices, positions, weights, tolerance=self.tolerance)

    def _follow(self, corr: np.ndarray, descan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The disks searched around the lattice moved with each frame's zero order (found
        within the ``descan`` offsets); a disk moved too near the frame's edge is left out."""
        shift = bragg.pattern_shift(corr, self.zero_start, descan)[:, None, :]
        inside = bragg.within(self.expected + shift, self.sig_shape, self.margin)
        starts = np.where(inside[..., None], self.starts + shift, self.starts)
        positions, weights = bragg.find_peaks(corr, starts, self.offsets)
        positions[~inside] = np.nan
        weights[~inside] = 0.0
        return positions, weights


def _lattice_param(name: str, help_: str) -> Param:
    return Param(name, "number", help_, unit="px", bound="reach")


LATTICE_PARAMS = (
    _lattice_param("cx", "Zero-order disk: centre column."),
    _lattice_param("cy", "Zero-order disk: centre row."),
    _lattice_param("ax", "Lattice vector a (zero order to a first-order disk): column part."),
    _lattice_param("ay", "Lattice vector a: row part."),
    _lattice_param("bx", "Lattice vector b (not parallel to a): column part."),
    _lattice_param("by", "Lattice vector b: row part."),
    Param("r", "number", "Disk radius (of the template).", unit="px", positive=True, bound="reach"),
    Param(
        "search",
        "number",
        "How far a disk may lie from where the lattice above puts it.",
        unit="px",
        positive=True,
        default=3.0,
        bound="reach",
    ),
    Param(
        "descan",
        "number",
        "How far the whole pattern may move over the scan: each frame's zero order is the "
        "strongest disk this near (cy, cx), and the other disks are searched around it. "
        "0: the pattern stays put.",
        unit="px",
        minimum=0,
        default=0.0,
        bound="reach",
    ),
    Param(
        "tolerance",
        "number",
        "Disks farther than this from the first fit are left out of the second.",
        unit="px",
        positive=True,
        default=1.0,
        bound="reach",
    ),
    Param(
        "log",
        "boolean",
        "Correlate log(1 + I - min I): faint disks count like bright ones (less precise).",
        default=False,
    ),
    SCAN_ROTATION,
    FLIP_Y,
)
REGION_PARAMS = (
    Param(
        "ref_y",
        "integer",
        "Reference region: top scan row.",
        unit="scan px",
        minimum=0,
        bound="scan_rows",
    ),
    Param(
        "ref_x",
        "integer",
        "Reference region: left scan column.",
        unit="scan px",
        minimum=0,
        bound="scan_columns",
    ),
    Param("ref_height", "integer", "Reference region: rows.", unit="scan px", minimum=1, default=1),
    Param(
        "ref_width", "integer", "Reference region: columns.", unit="scan px", minimum=1, default=1
    ),
)
LATTICE_HELP = (
    "Drag the centre square onto the zero-order disk, the ends of a and b onto two first-order "
    "disks and the rim square to the disk radius; dashed circles show the search radius."
)


def _strain_result(name: str, help_: str) -> Result:
    return Result(name, "nav", help_, dtype="float64", display="signed image")


def _pixels(name: str, help_: str) -> Result:
    return Result(name, "nav", help_, unit="px", dtype="float64")


class StrainAnalysis(FrameRowsAnalysis):
    """Strain maps from the Bragg disks' lattice of each frame."""

    declaration = AnalysisDeclaration(
        name="strain",
        title="Strain (Bragg disks)",
        summary="The lattice of the Bragg disks in each frame and its strain and rotation "
        "against a reference lattice.",
        params=(
            Param(
                "reference",
                "choice",
                "The reference lattice: the median over the scan, or over a scan rectangle.",
                choices=("median", "region"),
            ),
        ),
        modes=(
            Mode(
                "strain:median",
                "Strain vs the median lattice",
                LATTICE_PARAMS,
                widget="lattice",
                help=LATTICE_HELP,
                fixed={"reference": "median"},
            ),
            Mode(
                "strain:region",
                "Strain vs a scan region",
                LATTICE_PARAMS + REGION_PARAMS,
                widget="lattice",
                help=LATTICE_HELP,
                fixed={"reference": "region"},
            ),
        ),
        results=(
            _strain_result("exx", "Strain along x (detector columns, or scan x), a fraction."),
            _strain_result("eyy", "Strain along y (detector rows, or scan y), a fraction."),
            _strain_result("exy", "Shear strain (symmetric part), a fraction."),
            Result(
                "rotation",
                "nav",
                "Lattice rotation, +x towards +y.",
                unit="deg",
                dtype="float64",
                display="signed image",
            ),
            _pixels("zero_y", "Fitted zero-order disk: row."),
            _pixels("zero_x", "Fitted zero-order disk: column."),
            _pixels("a_y", "Fitted vector a: row part."),
            _pixels("a_x", "Fitted vector a: column part."),
            _pixels("b_y", "Fitted vector b: row part."),
            _pixels("b_x", "Fitted vector b: column part."),
            _pixels("residual", "Weighted RMS distance of the disks from the fitted lattice."),
            Result("peaks", "nav", "Number of disks in the fit.", dtype="float64"),
        ),
        preview="exx",
    )
    row_dtype = np.dtype(np.float64)
    row_width = len(lattice.LATTICE_COLUMNS)

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        zero, a, b = self._vectors(params)
        spacing = _shortest_spacing(a, b)
        if spacing == 0:
            raise ParameterError("bx", f"b ({b[1]:g}, {b[0]:g}) must not be parallel to a.")
        if 2 * params["search"] >= spacing:
            raise ParameterError(
                "search",
                f"must be less than half the shortest distance between disks ({spacing:.3g} px) "
                f"so that neighbouring disks' search windows do not overlap, got {params['search']:g}.",
            )
        margin = params["search"] + max(params["r"], 1.0)
        try:
            indices, _ = bragg.lattice_points(self.sig_shape, zero=zero, a=a, b=b, margin=margin)
        except ValueError as exc:
            raise ParameterError("ax", f"{exc}.") from None
        if len(indices) < 3 or np.linalg.matrix_rank(indices - indices[0]) < 2:
            raise ParameterError(
                "cx",
                f"the lattice has {len(indices)} disk(s) at least search + r = {margin:g} px "
                "inside the frame; at least 3, not on one line, are needed.",
            )
        self._check_descan(params)
        if params["reference"] == "region":
            self._check_region(params)
        return params

    def _check_descan(self, params: dict[str, Any]) -> None:
        reach = int(np.floor(params["descan"])) + 1  # and the parabola's neighbours
        centre = np.rint([params["cy"], params["cx"]])
        if params["descan"] > 0 and not bragg.within(centre, self.sig_shape, reach):
            raise ParameterError(
                "descan",
                f"the zero order's search ({params['descan']:g} px around row {centre[0]:g}, "
                f"column {centre[1]:g}) must lie inside the "
                f"{self.sig_shape[0]} x {self.sig_shape[1]} frame.",
            )

    def _check_region(self, params: dict[str, Any]) -> None:
        ny, nx = self.extent.scan_grid
        for start, size, extent, name in (
            ("ref_y", "ref_height", ny, "rows"),
            ("ref_x", "ref_width", nx, "columns"),
        ):
            if params[start] + params[size] > extent:
                raise ParameterError(
                    size,
                    f"the reference region ({name} {params[start]} to "
                    f"{params[start] + params[size] - 1}) must lie inside the scan's {extent} {name}.",
                )

    @staticmethod
    def _vectors(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        zero = np.array([params["cy"], params["cx"]], dtype=np.float64)
        a = np.array([params["ay"], params["ax"]], dtype=np.float64)
        b = np.array([params["by"], params["bx"]], dtype=np.float64)
        return zero, a, b

    def task(self) -> PartitionTask:
        q = self.params
        zero, a, b = self._vectors(q)
        margin = q["search"] + max(q["r"], 1.0)
        indices, positions = bragg.lattice_points(
            self.sig_shape, zero=zero, a=a, b=b, margin=margin
        )
        return StrainTask(
            sig_shape=(self.sig_shape[0], self.sig_shape[1]),
            r=q["r"],
            log=q["log"],
            indices=indices,
            expected=positions,
            zero=zero,
            search=q["search"],
            descan=q["descan"],
            tolerance=q["tolerance"],
        )

    def reference_frames(self) -> np.ndarray | None:
        """The frames whose median lattice is the reference (None: all)."""
        q = self.params
        if q["reference"] != "region":
            return None
        # the region is on the last two scan axes, in every 2-d slice of a longer scan
        selected = np.zeros((self.extent.slices, *self.extent.scan_grid), dtype=bool)
        selected[
            :, q["ref_y"] : q["ref_y"] + q["ref_height"], q["ref_x"] : q["ref_x"] + q["ref_width"]
        ] = True
        return selected.reshape(-1)

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        flat = rows.reshape(-1, self.row_width)
        reference = lattice.reference_lattice(flat, self.reference_frames())
        f = lattice.deformation(flat, reference)
        f = lattice.in_scan_axes(
            f, degrees=self.params["scan_rotation"], flip_y=self.params["flip_y"]
        )
        maps = lattice.strain_components(f)
        for i, column in enumerate(lattice.LATTICE_COLUMNS):
            maps[column] = flat[:, i]
        return {name: maps[name].reshape(self.nav_shape) for name in self.result_names}


def _shortest_spacing(a: np.ndarray, b: np.ndarray) -> float:
    """The shortest distance between two points of the lattice of ``a`` and ``b`` (0: parallel),
    by Lagrange-Gauss reduction of the basis."""
    if abs(a[0] * b[1] - a[1] * b[0]) <= 1e-9 * max(np.dot(a, a), np.dot(b, b)):
        return 0.0
    u, v = (a, b) if np.dot(a, a) <= np.dot(b, b) else (b, a)
    for _ in range(100):
        v = v - np.round(np.dot(u, v) / np.dot(u, u)) * u
        if np.dot(v, v) >= np.dot(u, u):
            break
        u, v = v, u
    return float(np.hypot(*u))
