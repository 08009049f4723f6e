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
from apps.core.analyses import params as p
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.spec import ParamSpec, ResultSpec
from apps.core.errors import ParameterError
from apps.core.masks import MaskStack

SHAPES: dict[str, tuple[str, ...]] = {
    "disk": ("cx", "cy", "r"),
    "ring": ("cx", "cy", "ri", "ro"),
    "rect": ("y", "x", "height", "width"),
    "point": ("y", "x"),
    "polygon": ("points",),
}
FACTORIES: dict[str, Callable[..., np.ndarray]] = {
    "disk": masks.disk,
    "ring": masks.ring,
    "rect": masks.rectangle,
    "point": masks.point,
    "polygon": masks.polygon,
}
MAX_POLYGON_POINTS = 1000


def _spec(name: str, type_: str, help_: str) -> ParamSpec:
    used = tuple(s for s, fields in SHAPES.items() if name in fields)
    return ParamSpec(name, type_, help_, required=False, shapes=used)


class VirtualAnalysis(MaskAnalysis):
    """Sum of each frame over one detector region (virtual bright field, dark field, ...)."""

    name = "virtual"
    result_names = ("intensity",)
    preview = "intensity"
    param_specs = (
        ParamSpec("shape", "choice", "Detector region shape.", options=tuple(SHAPES)),
        _spec("cx", "number", "Centre column in detector pixels."),
        _spec("cy", "number", "Centre row in detector pixels."),
        _spec("r", "number", "Disk radius in pixels (> 0)."),
        _spec("ri", "number", "Inner ring radius in pixels (>= 0, excluded)."),
        _spec("ro", "number", "Outer ring radius in pixels (> ri, included)."),
        _spec("y", "integer", "Top row (rect) or row (point) in detector pixels."),
        _spec("x", "integer", "Left column (rect) or column (point) in detector pixels."),
        _spec("height", "integer", "Rectangle height in pixels (>= 1)."),
        _spec("width", "integer", "Rectangle width in pixels (>= 1)."),
        _spec("points", "points", "Polygon vertices [[y, x], ...] in detector pixels (>= 3)."),
    )
    result_specs = (
        ResultSpec("intensity", "nav", "Integrated intensity inside the region per scan position."),
    )

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        shape = p.choice(params, "shape", tuple(SHAPES))
        p.no_unknown(params, {"shape", *SHAPES[shape]})
        check = {
            "disk": self._check_disk,
            "ring": self._check_ring,
            "rect": self._check_rect,
            "point": self._check_point,
            "polygon": self._check_polygon,
        }[shape]
        return {"shape": shape, **check(params)}

    def _check_disk(self, params: dict[str, Any]) -> dict[str, Any]:
        cy, cx = geometry.centre(params, self.sig_shape)
        p.number(params, "r", positive=True)
        r = geometry.bounded(params, "r", sig_shape=self.sig_shape, minimum=0.0)
        mask = masks.disk(self.sig_shape, cy=cy, cx=cx, r=r)
        geometry.check_covers(
            mask, sig_shape=self.sig_shape, cy=cy, cx=cx, r=r, field="r", what="disk"
        )
        return {"cy": cy, "cx": cx, "r": r}

    def _check_ring(self, params: dict[str, Any]) -> dict[str, Any]:
        cy, cx = geometry.centre(params, self.sig_shape)
        ri, ro = geometry.radii(
            params, sig_shape=self.sig_shape, inner="ri", outer="ro", inner_required=True
        )
        mask = masks.ring(self.sig_shape, cy=cy, cx=cx, ri=ri, ro=ro)
        geometry.check_covers(
            mask, sig_shape=self.sig_shape, cy=cy, cx=cx, r=ro, field="ro", what="ring"
        )
        return {"cy": cy, "cx": cx, "ri": ri, "ro": ro}

    def _check_rect(self, params: dict[str, Any]) -> dict[str, Any]:
        sy, sx = self.sig_shape
        y, x = self._whole(params, "y"), self._whole(params, "x")
        height = p.integer(params, "height", minimum=1)
        width = p.integer(params, "width", minimum=1)
        height, width = self._whole(params, "height"), self._whole(params, "width")
        for name, lo, size, extent in (("y", y, height, sy), ("x", x, width, sx)):
            if lo >= extent or lo + size <= 0:
                raise ParameterError(
                    name,
                    f"the rectangle ({name} {lo} to {lo + size - 1}) lies outside the "
                    f"{geometry.sig_extent(self.sig_shape)}; it must overlap the frame.",
                )
        return {"y": y, "x": x, "height": height, "width": width}

    def _whole(self, params: dict[str, Any], name: str) -> int:
        p.integer(params, name)
        return int(geometry.bounded(params, name, sig_shape=self.sig_shape))

    def _check_point(self, params: dict[str, Any]) -> dict[str, Any]:
        sy, sx = self.sig_shape
        y = p.integer(params, "y", minimum=0, maximum=sy - 1)
        x = p.integer(params, "x", minimum=0, maximum=sx - 1)
        return {"y": y, "x": x}

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
