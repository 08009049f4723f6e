"""JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) of an analysis's ``params``, generated
from its declaration.

Only what holds for every dataset is in the schema: bounds that depend on the detector or the
scan (``bound``) are said in the description, and the server refuses values beyond them with
a 400 naming the parameter. A ``masks`` parameter is sent through the API as the id of an
uploaded mask, which the portal resolves to the array before the Core sees it; a ``job``
parameter likewise as the id of a finished job, resolved to the result the analysis needs.
"""

from __future__ import annotations

from typing import Any

from apps.core.analyses.declaration import BOUNDS, CALIBRATED, AnalysisDeclaration, Mode, Param


def param_schema(param: Param) -> dict[str, Any]:
    """The schema of one parameter's value."""
    out: dict[str, Any] = _value_schema(param)
    if param.type in ("number", "integer") and (param.default is not None or param.calibration):
        # The Core reads a null number as one left out, which is the default (params.number)
        # or the dataset's calibrated value.
        out["type"] = [param.type, "null"]
    if param.type == "job" and param.optional:
        out["type"] = ["integer", "null"]
    if param.auto:
        out = {"anyOf": [out, {"const": "auto"}]}
    text = param.help
    if param.unit:
        text += f" Unit: {param.unit}."
    if param.bound:
        text += f" Bounded by the dataset: {BOUNDS[param.bound]}."
    if param.calibration:
        text += (
            f" Left out: the dataset's calibrated {CALIBRATED[param.calibration][0]} "
            "(required if it has none)."
        )
    out["description"] = text
    if param.default is not None:
        out["default"] = param.default
    if param.suggested is not None:
        out["examples"] = [param.suggested]
    return out


def _value_schema(param: Param) -> dict[str, Any]:
    if param.type == "boolean":
        return {"type": "boolean"}
    if param.type == "choice":
        return {"type": "string", "enum": list(param.choices)}
    if param.type in ("masks", "job"):
        return {"type": "integer", "minimum": 1}
    if param.type == "points":
        pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        out: dict[str, Any] = {"type": "array", "items": pair}
        if param.minimum is not None:
            out["minItems"] = int(param.minimum)
        if param.maximum is not None:
            out["maxItems"] = int(param.maximum)
        return out
    number: dict[str, Any] = {"type": param.type}
    if param.positive:
        number["exclusiveMinimum"] = 0
    if param.minimum is not None:
        number["minimum"] = param.minimum
    if param.maximum is not None:
        number["maximum"] = param.maximum
    return number


def _object_schema(params: tuple[Param, ...], mode: Mode | None = None) -> dict[str, Any]:
    properties = {q.name: param_schema(q) for q in params}
    if mode is not None:
        for name, value in mode.fixed.items():
            properties[name] = {"const": value, "description": properties[name]["description"]}
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [q.name for q in params if q.required and not q.calibration]
    if required:
        out["required"] = required
    return out


def declaration_schema(declaration: AnalysisDeclaration) -> dict[str, Any]:
    """The schema of ``params`` for ``declaration``: one object, or one object per mode."""
    selector = declaration.selector
    if selector is None:
        out = _object_schema(declaration.params)
    else:
        out = {
            "oneOf": [
                {"title": m.title, **_object_schema((selector, *m.params), m)}
                for m in declaration.modes
            ]
        }
    return {"title": f"{declaration.name} parameters", "description": declaration.summary, **out}
