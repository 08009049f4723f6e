"""The one description of an analysis: its parameters, its results and the controls that edit it.

Each analysis module declares an :class:`AnalysisDeclaration`. From it come the parameter
validation (:meth:`AnalysisDeclaration.read`), the JSON the browser builds its forms and result
views from (:meth:`AnalysisDeclaration.as_json`), the JSON Schema of the API
(:mod:`apps.core.analyses.schema`) and the analysis table of the docs
(:mod:`apps.core.analyses.doctable`). Adding an analysis means writing its module only.

What the declaration cannot say (a relation between parameters such as ``ro > ri``, or that a
disk must contain a detector pixel) the analysis checks afterwards in its ``validate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.core.analyses import geometry
from apps.core.analyses import params as p
from apps.core.errors import ParameterError

PARAM_TYPES = ("number", "integer", "boolean", "choice", "points", "masks", "job")

#: Bounds that depend on the dataset, resolved by :class:`Extent`.
BOUNDS = {
    "reach": "within 16 times the detector's larger side",
    "detector_rows": "a detector row, 0 to sy - 1",
    "detector_columns": "a detector column, 0 to sx - 1",
    "scan_rows": "a scan row, 0 to ny - 1",
    "scan_columns": "a scan column, 0 to nx - 1",
    "scan_slices": "a 2-d slice of a scan of more than two axes, 0 to the product of the "
    "leading scan axes - 1",
}

#: How a result is laid out: the scan shape, the detector shape, the scan shape plus one axis (or
#: two: radial bins, then angular orders), one axis alone (``bins``: a profile over the whole
#: scan, e.g. against radius), or the detector shape plus one axis (``sig+clusters``: an image per cluster).
#: ``values`` is a few numbers that are no image (fitted coefficients, guessed parameters).
RESULT_SHAPES = (
    "nav",
    "sig",
    "nav+bins",
    "nav+m",
    "nav+bins+orders",
    "bins",
    "sig+clusters",
    "values",
)
#: How the browser shows a result: an image (diverging colours for signed values), or one
#: channel of a stack (or their sum) per scan position.
DISPLAYS = ("image", "signed image", "channels")
#: The result's dtype: float64, the compute dtype (float32; float64 for float64 data/masks), or
#: complex in the compute dtype (complex64; complex128 for float64 data).
RESULT_DTYPES = ("float64", "compute", "complex")
#: The calibrated quantities of a dataset a parameter may default from (``Param.calibration``):
#: what each is, in the unit the parameter must then have. The portal keeps them with the
#: dataset (typed on its page); a job's missing parameter is filled from there.
CALIBRATED = {
    "beam_energy": ("beam energy", "keV"),
    "convergence_angle": ("convergence semi-angle", "mrad"),
    "scan_step": ("scan step", "nm"),
    "detector_pixel": ("detector pixel size", "mrad"),
}


@dataclass(frozen=True)
class Param:
    """One parameter.

    ``type`` is one of :data:`PARAM_TYPES`; ``unit`` is ``"px"`` (detector pixels), ``"deg"``,
    ``"scan px"`` or ``""``. A parameter without ``default`` is required. ``minimum`` and
    ``maximum`` are fixed bounds (for ``points``: how many vertices), ``positive`` means greater than 0; ``bound`` names a bound
    that depends on the dataset (see :data:`BOUNDS`). ``suggested`` is the first value a form
    shows for a required parameter. ``calibration`` names the quantity of the dataset's
    calibration (:data:`CALIBRATED`) the parameter defaults from when it is not given.
    ``auto``: a number or boolean that may also be the string
    ``"auto"`` (the analysis then finds the value and gives it as a result). ``optional``: a
    parameter without default that may be left out (a ``job`` reference).

    A ``job`` parameter is the id of a finished job in the API; the portal gives the Core the
    job's result the analysis names in its docstring instead.
    """

    name: str
    type: str
    help: str
    unit: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    bound: str | None = None
    choices: tuple[str, ...] = ()
    suggested: Any = None
    calibration: str | None = None
    auto: bool = False
    optional: bool = False

    def __post_init__(self) -> None:
        if self.calibration is not None:
            if self.calibration not in CALIBRATED:
                raise ValueError(
                    f"parameter {self.name}: calibration {self.calibration!r} not in "
                    f"{list(CALIBRATED)}"
                )
            if self.unit != CALIBRATED[self.calibration][1]:
                raise ValueError(
                    f"parameter {self.name}: a parameter from the {self.calibration} is in "
                    f"{CALIBRATED[self.calibration][1]}, not {self.unit!r}"
                )
        if self.type not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name}: type {self.type!r} not in {PARAM_TYPES}")
        if self.bound is not None and self.bound not in BOUNDS:
            raise ValueError(f"parameter {self.name}: bound {self.bound!r} not in {list(BOUNDS)}")

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "unit": self.unit,
            "help": self.help,
        }
        optional = {
            "minimum": self.minimum,
            "maximum": self.maximum,
            "bound": self.bound,
            "suggested": self.suggested,
            "calibration": self.calibration,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.positive:
            out["positive"] = True
        if self.choices:
            out["choices"] = list(self.choices)
        if self.auto:
            out["auto"] = True
        return out


@dataclass(frozen=True)
class Result:
    """One result array: ``shape`` in :data:`RESULT_SHAPES`, ``display`` in :data:`DISPLAYS`."""

    name: str
    shape: str
    help: str
    unit: str = ""
    dtype: str = "compute"
    display: str = "image"

    def __post_init__(self) -> None:
        if self.shape not in RESULT_SHAPES:
            raise ValueError(f"result {self.name}: shape {self.shape!r} not in {RESULT_SHAPES}")
        if self.display not in DISPLAYS:
            raise ValueError(f"result {self.name}: display {self.display!r} not in {DISPLAYS}")
        if self.dtype not in RESULT_DTYPES:
            raise ValueError(f"result {self.name}: dtype {self.dtype!r} not in {RESULT_DTYPES}")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": self.shape,
            "unit": self.unit,
            "dtype": self.dtype,
            "display": self.display,
            "help": self.help,
        }


@dataclass(frozen=True)
class Mode:
    """One entry of the page's analysis menu: the parameters it takes and the control that
    edits them.

    ``widget`` names the browser control: a detector shape (``disk``, ``ring``, ``rect``,
    ``point``, ``polygon``, ``com``, ``radial``, ``beam``: a cross at the beam's centre)
    drawn on the detector view, ``scan-point``
    (a click on the scan image) or ``mask-upload``; empty for none. ``fixed`` holds the
    selector's value for this mode (the virtual detector's ``{"shape": "disk"}``).
    """

    key: str
    title: str
    params: tuple[Param, ...]
    widget: str = ""
    help: str = ""
    fixed: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "params": [q.as_json() for q in self.params],
            "widget": self.widget,
            "help": self.help,
            "fixed": dict(self.fixed),
        }


@dataclass(frozen=True)
class Extent:
    """The dataset's shapes, which some bounds depend on."""

    nav_shape: tuple[int, ...]
    sig_shape: tuple[int, ...]

    @property
    def scan_grid(self) -> tuple[int, int]:
        """``(ny, nx)``, the last two scan axes: a 1-d scan is one row; a scan of more axes is
        a stack of such 2-d slices (see :attr:`slices`)."""
        if len(self.nav_shape) == 1:
            return 1, self.nav_shape[0]
        return self.nav_shape[-2], self.nav_shape[-1]

    @property
    def slices(self) -> int:
        """How many 2-d slices of :attr:`scan_grid` the scan has (the product of the scan axes
        before the last two; 1 for a 1-d or 2-d scan)."""
        return math.prod(self.nav_shape[:-2])

    def plane_only(self, analysis: str) -> None:
        """Raise ParameterError("analysis") if the scan has more than two axes: ``analysis``
        treats the scan as one 2-d image."""
        if len(self.nav_shape) > 2:
            raise ParameterError(
                "analysis",
                f"{analysis} needs a 1-d or 2-d scan, got the scan shape "
                f"{list(self.nav_shape)}; reopen the data with a 2-d nav_shape.",
            )

    def last_index(self, bound: str) -> int:
        sy, sx = self.sig_shape
        ny, nx = self.scan_grid
        return {
            "detector_rows": sy - 1,
            "detector_columns": sx - 1,
            "scan_slices": self.slices - 1,
            "scan_rows": ny - 1,
            "scan_columns": nx - 1,
        }[bound]


@dataclass(frozen=True)
class AnalysisDeclaration:
    """Everything said about one analysis outside its numerical code.

    An analysis takes ``params``; or, with ``modes``, ``params`` is one ``choice`` parameter
    (the selector) whose value picks the mode, and the mode's own parameters apply.
    ``widget`` and ``help`` describe the single mode of an analysis without ``modes``.
    ``field`` names the two results (x, y) the browser may also show as one vector field.
    ``live`` names results sent while the job runs besides the ``preview`` (the page shows
    the selected one building up).
    """

    name: str
    title: str
    summary: str
    results: tuple[Result, ...]
    preview: str
    params: tuple[Param, ...] = ()
    modes: tuple[Mode, ...] = ()
    widget: str = ""
    help: str = ""
    field: tuple[str, str] | None = None
    live: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.preview not in self.result_names:
            raise ValueError(f"{self.name}: preview {self.preview!r} is not a result")
        for name in self.live:
            if name not in self.result_names or name == self.preview:
                raise ValueError(f"{self.name}: live {name!r} is no result besides the preview")
        if self.modes:
            selector = self.params[0] if len(self.params) == 1 else None
            if selector is None or selector.type != "choice":
                raise ValueError(f"{self.name}: modes need exactly one choice parameter")
            if [m.fixed.get(selector.name) for m in self.modes] != list(selector.choices):
                raise ValueError(f"{self.name}: one mode per {selector.name} choice, in order")

    @property
    def result_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results)

    @property
    def selector(self) -> Param | None:
        """The ``choice`` parameter whose value picks the mode (None: one mode)."""
        return self.params[0] if self.modes else None

    def all_modes(self) -> tuple[Mode, ...]:
        """The declared modes, or the one mode that takes every parameter."""
        if self.modes:
            return self.modes
        return (Mode(self.name, self.title, self.params, widget=self.widget, help=self.help),)

    def mode_params(self, params: Mapping[str, Any]) -> tuple[Param, ...]:
        """The parameters that apply to ``params`` (the selector's mode, or all)."""
        if self.selector is None:
            return self.params
        value = p.choice(params, self.selector.name, self.selector.choices)
        mode = self.modes[self.selector.choices.index(value)]
        return (self.selector, *mode.params)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, for the browser and ``GET /api/analyses/``."""
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "params": [q.as_json() for q in self.params],
            "results": [r.as_json() for r in self.results],
            "preview": self.preview,
            "modes": [m.as_json() for m in self.all_modes()],
            "field": list(self.field) if self.field else None,
            "live": [self.preview, *self.live],
        }

    def with_calibration(
        self, params: Mapping[str, Any], calibrated: Mapping[str, float]
    ) -> dict[str, Any]:
        """``params`` with each missing (or null) parameter that defaults from the dataset's
        calibration filled in from ``calibrated`` (quantity -> value, those known)."""
        filled = dict(params)
        try:
            applying = self.mode_params(params)
        except ParameterError:
            return filled  # read() names the selector
        for q in applying:
            known = calibrated.get(q.calibration) if q.calibration else None
            if filled.get(q.name) is None and known is not None:
                filled[q.name] = known
        return filled

    def read(
        self,
        params: Mapping[str, Any],
        extent: Extent,
        *,
        defaults: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The parameters that apply, each checked against its declaration (type, fixed and
        dataset bounds) with its default filled in; ``defaults`` are dataset-dependent defaults.

        Raises :class:`ParameterError` naming the first parameter that is unknown, missing,
        mistyped or out of range.
        """
        applying = self.mode_params(params)
        p.no_unknown(params, {q.name for q in applying})
        given = defaults or {}
        return {q.name: read_param(q, params, extent, given) for q in applying}


def read_param(
    param: Param, params: Mapping[str, Any], extent: Extent, defaults: Mapping[str, Any]
) -> Any:
    """``params[param.name]`` checked against ``param`` (see :meth:`AnalysisDeclaration.read`)."""
    name = param.name
    default = defaults.get(name, param.default)
    if param.calibration and default is None and params.get(name) is None:
        what, unit = CALIBRATED[param.calibration]
        raise ParameterError(
            name,
            f"is required: give the {what} in {unit}, or type it into the dataset's "
            "calibration on the dataset page (it does not give it).",
        )
    if param.auto and params.get(name) == p.AUTO:
        return p.AUTO
    if param.type == "boolean":
        return p.boolean(params, name, default=default, auto=param.auto)
    if param.type == "choice":
        return p.choice(params, name, param.choices, default=default)
    if param.type in ("points", "masks", "job"):
        if params.get(name) is None and default is None:
            return None  # the analysis explains what it needs
        return params.get(name, default)
    if param.auto and isinstance(params.get(name), str):
        raise ParameterError(name, f'must be a number or "{p.AUTO}", got {params[name]!r}.')
    value: float = p.number(params, name, default=default, positive=param.positive)
    if param.type == "integer":
        value = p.integer(params, name, default=default)
    if param.bound == "reach":
        low = 0.0 if param.positive else param.minimum
        value = geometry.bounded(
            params, name, sig_shape=extent.sig_shape, minimum=low, default=default
        )
        return int(value) if param.type == "integer" else value
    maximum = param.maximum
    if param.bound is not None:
        maximum = extent.last_index(param.bound)
    return _in_range(value, name, minimum=param.minimum, maximum=maximum, raw=params.get(name))


def _in_range(
    value: float, name: str, *, minimum: float | None, maximum: float | None, raw: Any
) -> Any:
    shown = value if raw is None else raw
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"must be at least {minimum:g}, got {shown!r}.")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"must be at most {maximum:g}, got {shown!r}.")
    return value


def check_declarations(declarations: Sequence[AnalysisDeclaration]) -> None:
    """Refuse two analyses or two modes with the same name (the menu and the API key on it)."""
    keys = [m.key for d in declarations for m in d.all_modes()]
    names = [d.name for d in declarations]
    for seen in (keys, names):
        doubled = sorted({k for k in seen if seen.count(k) > 1})
        if doubled:
            raise ValueError(f"declared twice: {', '.join(doubled)}")
