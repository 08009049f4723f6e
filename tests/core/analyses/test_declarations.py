"""The declarations drive validation and the JSON Schema: what a declaration says, the Core
enforces, naming the field; what the schema says, the declaration said."""

from __future__ import annotations

import json
from typing import Any

import pytest
from numpy_reference import CASES, NAV, SIG

from apps.core.analyses import ANALYSES, declarations, make_analysis, params_schema
from apps.core.analyses.declaration import AnalysisDeclaration, Extent, Mode, Param, Result
from apps.core.errors import ParameterError

EXTENT = Extent(NAV, SIG)
TOY = AnalysisDeclaration(
    name="toy",
    title="Toy",
    summary="A declaration for tests.",
    params=(
        Param("n", "integer", "How many.", minimum=2, maximum=5, default=3),
        Param("w", "number", "Width.", unit="px", positive=True),
        Param("row", "integer", "A detector row.", minimum=0, bound="detector_rows"),
        Param("r", "number", "Reach.", minimum=0, bound="reach"),
        Param("on", "boolean", "Switch.", default=False),
    ),
    results=(Result("out", "nav", "Out."),),
    preview="out",
)
GOOD = {"w": 1.5, "row": 32, "r": 3}


def refusal(declaration: AnalysisDeclaration, params: dict[str, Any]) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        declaration.read(params, EXTENT)
    return info.value


def test_it_fills_declared_defaults_and_types() -> None:
    assert TOY.read(GOOD, EXTENT) == {"n": 3, "w": 1.5, "row": 32, "r": 3.0, "on": False}
    assert type(TOY.read({**GOOD, "n": 4.0}, EXTENT)["n"]) is int


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"n": 1}, "n", "at least 2"),
        ({"n": 6}, "n", "at most 5"),
        ({"n": 2.5}, "n", "whole number"),
        ({"w": 0}, "w", "greater than 0"),
        ({"w": "1"}, "w", "must be a number"),
        ({"row": 33}, "row", "at most 32"),  # the 33 x 47 detector's last row
        ({"row": -1}, "row", "at least 0"),
        ({"r": 753}, "r", "from 0 to 752"),
        ({"on": 1}, "on", "true or false"),
        ({"m": 1}, "m", "not a parameter"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    change: dict[str, Any], field: str, expected: str
) -> None:
    exc = refusal(TOY, {**GOOD, **change})
    assert exc.field == field and expected in exc.message, str(exc)


def test_a_missing_required_parameter_is_named() -> None:
    exc = refusal(TOY, {"w": 1, "r": 1})
    assert (exc.field, exc.message) == ("row", "is required.")


def test_modes_select_their_parameters() -> None:
    modal = AnalysisDeclaration(
        name="modal",
        title="Modal",
        summary="Two modes.",
        params=(Param("kind", "choice", "Which.", choices=("a", "b")),),
        modes=(
            Mode("modal:a", "A", (Param("p", "number", "P."),), fixed={"kind": "a"}),
            Mode("modal:b", "B", (Param("q", "number", "Q.", default=1.0),), fixed={"kind": "b"}),
        ),
        results=(Result("out", "nav", "Out."),),
        preview="out",
    )
    assert modal.read({"kind": "b"}, EXTENT) == {"kind": "b", "q": 1.0}
    assert refusal(modal, {"kind": "b", "p": 1}).field == "p"
    assert "a, b" in refusal(modal, {"kind": "c"}).message
    with pytest.raises(ValueError, match="one mode per kind"):
        AnalysisDeclaration(**{**modal.__dict__, "modes": modal.modes[:1]})


def test_a_declaration_names_a_real_preview() -> None:
    with pytest.raises(ValueError, match="preview"):
        AnalysisDeclaration("x", "X", "X.", results=(Result("a", "nav", "A."),), preview="b")


@pytest.mark.parametrize("name", tuple(CASES))
def test_every_declared_bound_is_enforced_by_the_analysis(name: str) -> None:
    """Each analysis's fixed bounds, one value beyond them, give an error naming the field."""
    declaration = ANALYSES[name].declaration
    case = CASES[name]
    for param in declaration.mode_params(case):
        beyond = []
        if param.minimum is not None and param.type in ("number", "integer"):
            beyond.append(param.minimum - 1)
        if param.maximum is not None and param.type in ("number", "integer"):
            beyond.append(param.maximum + 1)
        if param.positive:
            beyond.append(0)
        if param.type in ("number", "integer"):
            beyond.append("1")  # a string is never a number
        for value in beyond:
            with pytest.raises(ParameterError) as info:
                make_analysis(
                    name, {**case, param.name: value}, nav_shape=NAV, sig_shape=SIG, dtype="<u2"
                )
            assert info.value.field == param.name, (param.name, value, str(info.value))


def _schema_objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return schema.get("oneOf", [schema])


@pytest.mark.parametrize("name", list(ANALYSES))
def test_the_params_schema_says_what_the_declaration_says(name: str) -> None:
    declaration = ANALYSES[name].declaration
    schema = json.loads(json.dumps(params_schema(name)))
    objects = _schema_objects(schema)
    assert len(objects) == len(declaration.all_modes())
    for obj, mode in zip(objects, declaration.all_modes(), strict=True):
        assert obj["additionalProperties"] is False
        applying = (*([declaration.selector] if declaration.selector else []), *mode.params)
        assert list(obj["properties"]) == [q.name for q in applying]
        # a parameter that defaults from the dataset's calibration may be left out
        required = [q.name for q in applying if q.required and not q.calibration]
        assert obj.get("required", []) == required
        for param in mode.params:
            prop = obj["properties"][param.name]
            assert param.help in prop["description"]
            if param.unit:
                assert f"Unit: {param.unit}." in prop["description"]
            if param.default is not None:
                assert prop["default"] == param.default
            value = prop
            if param.auto:  # the value, or the request to find it
                value, auto = prop["anyOf"]
                assert auto == {"const": "auto"}
            if param.type in ("number", "integer"):
                # null means the default (as params.number reads it) or the calibrated value,
                # so only with either
                nullable = [param.type, "null"]
                optional = param.default is not None or param.calibration
                assert value["type"] == (nullable if optional else param.type)
                assert value.get("minimum") == param.minimum
                assert value.get("maximum") == param.maximum
                assert ("exclusiveMinimum" in value) == param.positive
            if param.type == "job":
                assert (value["type"], value["minimum"]) == (["integer", "null"], 1)
        for key, value in mode.fixed.items():
            assert obj["properties"][key]["const"] == value


def test_the_virtual_schema_has_one_branch_per_shape() -> None:
    branches = params_schema("virtual")["oneOf"]
    assert [b["properties"]["shape"]["const"] for b in branches] == [
        "disk",
        "ring",
        "rect",
        "point",
        "polygon",
    ]
    ring = branches[1]
    assert ring["required"] == ["shape", "cx", "cy", "ri", "ro"]
    assert ring["properties"]["ro"]["exclusiveMinimum"] == 0
    polygon = branches[4]["properties"]["points"]
    assert (polygon["minItems"], polygon["maxItems"]) == (3, 1000)
    assert params_schema("radial")["properties"]["bins"]["maximum"] == 1024
    assert params_schema("masks")["properties"]["masks"] == {
        "type": "integer",
        "minimum": 1,
        "description": params_schema("masks")["properties"]["masks"]["description"],
    }


def test_menu_keys_are_unique() -> None:
    keys = [m.key for d in declarations() for m in d.all_modes()]
    assert len(keys) == len(set(keys))
    assert keys[:3] == ["sum", "pick", "virtual:disk"]


def test_a_null_number_with_a_default_is_read_as_the_default_as_the_schema_says() -> None:
    params = {"cx": 8.0, "cy": 6.0, "r": 3.0, "ri": None, "scan_rotation": None}
    analysis = make_analysis("com", params, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    assert (analysis.params["ri"], analysis.params["scan_rotation"]) == (0.0, 0.0)
    rotation = params_schema("com")["properties"]["scan_rotation"]
    assert rotation["anyOf"][0]["type"] == ["number", "null"] and rotation["default"] == 0.0
    with pytest.raises(ParameterError, match="r: is required"):  # no default: null is refused
        make_analysis("com", {**params, "r": None}, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
