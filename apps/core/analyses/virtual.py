"""Virtual detector: the integrated intensity inside one detector region per scan position.

Parameters: ``shape`` and its geometry (detector pixels, see :mod:`apps.core.masks`)

* ``disk``: ``cx, cy, r`` (``r > 0``)
* ``ring``: ``cx, cy, ri, ro`` (``0 <= ri < ro``)
* ``rect``: ``y, x, height, width`` (integers, at least one pixel inside the frame)
* ``point``: ``y, x`` (a pixel inside the frame)
* ``polygon``: ``points`` = ``[[y, x], ...]`` (at least 3 vertices, pixel centres inside count)

Result ``intensity``: ``nav_shape``, compute dtype (float32, or float64 for float64 data), NaN
outside the scan ROI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from apps.core import masks
from apps.core.analyses import geometry
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.declaration import AnalysisDeclaration, Mode, Param, Result
from apps.core.analyses.geometry_params import CX, CY
from apps.core.errors import ParameterError
from apps.core.masks import MaskStack

FACTORIES: dict[str, Callable[..., np.ndarray]] = {
    "disk": masks.disk,
    "ring": masks.ring,
    "rect": masks.rectangle,
    "point": masks.point,
    "polygon": masks.polygon,
}
MAX_POLYGON_POINTS = 1000


def _mode(shape: str, title: str, params: tuple[Param, ...], help_: str = "") -> Mode:
    return Mode(f"virtual:{shape}", title, params, widget=shape, help=help_, fixed={"shape": shape})


R = Param("r", "number", "Disk radius.", unit="px", positive=True, bound="reach")
RI = Param("ri", "number", "Inner ring radius (excluded).", unit="px", minimum=0, bound="reach")
RO = Param(
    "ro", "number", "Outer ring radius (> ri, included).", unit="px", positive=True, bound="reach"
)
TOP = Param("y", "integer", "Top row.", unit="px", bound="reach")
LEFT = Param("x", "integer", "Left column.", unit="px", bound="reach")
HEIGHT = Param("height", "integer", "Rectangle height.", unit="px", minimum=1, bound="reach")
WIDTH = Param("width", "integer", "Rectangle width.", unit="px", minimum=1, bound="reach")
ROW = Param("y", "integer", "Detector row.", unit="px", minimum=0, bound="detector_rows")
COLUMN = Param("x", "integer", "Detector column.", unit="px", minimum=0, bound="detector_columns")
POINTS = Param(
    "points",
    "points",
    "Polygon vertices [[y, x], ...]; the minimum and maximum count the vertices.",
    unit="px",
    minimum=3,
    maximum=MAX_POLYGON_POINTS,
)


class VirtualAnalysis(MaskAnalysis):
    """Sum of each frame over one detector region (virtual bright field, dark field, ...)."""

    declaration = AnalysisDeclaration(
        name="virtual",
        title="Virtual detector",
        summary="The integrated intensity inside one detector region per scan position.",
        params=(Param("shape", "choice", "Detector region shape.", choices=tuple(FACTORIES)),),
        modes=(
            _mode("disk", "Disk (bright field)", (CX, CY, R)),
            _mode("ring", "Ring (annular dark field)", (CX, CY, RI, RO)),
            _mode("rect", "Rectangle", (TOP, LEFT, HEIGHT, WIDTH)),
            _mode(
                "point",
                "Single pixel",
                (ROW, COLUMN),
                "Click or drag on the detector to place the pixel.",
            ),
            _mode(
                "polygon",
                "Polygon",
                (POINTS,),
                "Click to add corners, double-click to close. Drag corners or the inside to edit.",
            ),
        ),
        results=(
            Result(
                "intensity",
                "nav",
                "Integrated intensity inside the region per scan position.",
                unit="data",
            ),
        ),
        preview="intensity",
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        shape = params.pop("shape")
        check = {
            "disk": self._check_disk,
            "ring": self._check_ring,
            "rect": self._check_rect,
            "point": self._check_point,
            "polygon": self._check_polygon,
        }[shape]
        return {"shape": shape, **check(params)}

    def _check_disk(self, params: dict[str, Any]) -> dict[str, Any]:
        mask = masks.disk(self.sig_shape, **params)
        geometry.check_covers(mask, sig_shape=self.sig_shape, field="r", what="disk", **params)
        return params

    def _check_ring(self, params: dict[str, Any]) -> dict[str, Any]:
        geometry.check_ring_covers(self.sig_shape, **params)
        return params

    def _check_rect(self, params: dict[str, Any]) -> dict[str, Any]:
        sy, sx = self.sig_shape
        y, x, height, width = params["y"], params["x"], params["height"], params["width"]
        for name, lo, size, extent in (("y", y, height, sy), ("x", x, width, sx)):
            if lo >= extent or lo + size <= 0:
                raise ParameterError(
                    name,
                    f"the rectangle ({name} {lo} to {lo + size - 1}) lies outside the "
                    f"{geometry.sig_extent(self.sig_shape)}; it must overlap the frame.",
                )
        return params

    def _check_point(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    def _check_polygon(self, params: dict[str, Any]) -> dict[str, Any]:
        points = polygon_points(params, self.sig_shape)
        if not masks.polygon(self.sig_shape, points=points).any():
            raise ParameterError(
                "points",
                f"the polygon contains no pixel centre of the {geometry.sig_extent(self.sig_shape)}.",
            )
        return {"points": points}

    def mask_stack(self) -> MaskStack:
        geometry_args = {k: v for k, v in self.params.items() if k != "shape"}
        factory = FACTORIES[self.params["shape"]]
        return MaskStack(factory(self.sig_shape, **geometry_args))

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"intensity": rows[..., 0]}


def polygon_points(params: dict[str, Any], sig_shape: Sequence[int]) -> list[list[float]]:
    """``points``: at least 3 ``[y, x]`` pairs of numbers within the detector's reach, as
    floats (see :func:`geometry.reach`)."""
    raw = params.get("points")
    if raw is None:
        raise ParameterError("points", "is required: a list of at least 3 [y, x] vertices.")
    if isinstance(raw, np.ndarray):
        raw = raw.tolist()
    if not isinstance(raw, list | tuple) or not 3 <= len(raw) <= MAX_POLYGON_POINTS:
        raise ParameterError(
            "points",
            f"must be a list of 3 to {MAX_POLYGON_POINTS} [y, x] vertices, got {_brief(raw)}.",
        )
    out = []
    for i, pt in enumerate(raw):
        if not isinstance(pt, list | tuple) or len(pt) != 2:
            raise ParameterError("points", f"vertex {i} must be a [y, x] pair, got {pt!r}.")
        pair = {"y": pt[0], "x": pt[1]}
        try:
            out.append(
                [
                    geometry.bounded(pair, "y", sig_shape=sig_shape),
                    geometry.bounded(pair, "x", sig_shape=sig_shape),
                ]
            )
        except ParameterError as exc:
            raise ParameterError("points", f"vertex {i} {exc.field} {exc.message}") from None
    return out


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
