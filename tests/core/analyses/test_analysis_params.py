"""Parameter validation: every bad input is a ParameterError naming its field in a sentence."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from numpy_reference import CASES, NAV, SIG, user_masks

from apps.core.analyses import ANALYSES, describe_analyses, make_analysis
from apps.core.analyses.base import Analysis
from apps.core.errors import ParameterError


def build(name: str, params: Any, *, nav: tuple[int, ...] = NAV) -> Analysis:
    return make_analysis(name, params, nav_shape=nav, sig_shape=SIG, dtype="<u2")


def refused(name: str, params: Any, field: str, *words: str, nav: tuple[int, ...] = NAV) -> str:
    with pytest.raises(ParameterError) as info:
        build(name, params, nav=nav)
    exc = info.value
    assert exc.field == field, f"{exc.field!r} != {field!r}: {exc}"
    assert str(exc).startswith(f"{field}: ") and exc.message.endswith("."), str(exc)
    for word in words:
        assert word in exc.message, f"{word!r} not in {exc.message!r}"
    return exc.message


DISK = {"shape": "disk", "cx": 20, "cy": 15, "r": 5}
COM = {"cx": 20, "cy": 15, "r": 5}
RADIAL = {"cx": 20, "cy": 15, "ro": 12, "bins": 4}

BAD = [
    # (analysis, params, field, words in the message)
    ("virtual", {}, "shape", ["required", "disk"]),
    ("virtual", {"shape": "circle"}, "shape", ["disk, ring, rect, point, polygon"]),
    ("virtual", {**DISK, "r": 0}, "r", ["greater than 0"]),
    ("virtual", {**DISK, "r": -2}, "r", ["greater than 0"]),
    ("virtual", {**DISK, "r": math.nan}, "r", ["finite"]),
    ("virtual", {**DISK, "cx": math.inf}, "cx", ["finite"]),
    ("virtual", {**DISK, "cy": "15"}, "cy", ["number"]),
    ("virtual", {**DISK, "cy": True}, "cy", ["number"]),
    ("virtual", {**DISK, "cy": [15]}, "cy", ["number"]),
    ("virtual", {"shape": "disk", "cx": 20, "r": 5}, "cy", ["required"]),
    ("virtual", {**DISK, "ri": 2}, "ri", ["not a parameter", "cx, cy, r, shape"]),
    ("virtual", {**DISK, "cx": 200}, "cx", ["no pixel", "33 x 47"]),
    ("virtual", {**DISK, "cy": -40}, "cy", ["no pixel"]),
    ("virtual", {**DISK, "cx": 10.5, "cy": 10.5, "r": 0.5}, "r", ["no pixel"]),
    ("virtual", {"shape": "ring", "cx": 20, "cy": 15, "ro": 9}, "ri", ["required"]),
    ("virtual", {"shape": "ring", "cx": 20, "cy": 15, "ri": 9, "ro": 9}, "ro", ["greater than ri"]),
    ("virtual", {"shape": "ring", "cx": 20, "cy": 15, "ri": -1, "ro": 9}, "ri", ["from 0 to 752"]),
    # Geometry is bounded by 16 times the detector's larger side (47): r**2 cannot overflow.
    ("virtual", {**DISK, "r": 1e308}, "r", ["from 0 to 752", "33 x 47 detector", "1e+308"]),
    ("virtual", {**DISK, "r": 1e300}, "r", ["from 0 to 752"]),
    ("virtual", {**DISK, "r": 753}, "r", ["from 0 to 752"]),
    ("virtual", {**DISK, "cx": -1e308}, "cx", ["from -752 to 752"]),
    ("virtual", {"shape": "ring", "cx": 20, "cy": 15, "ri": 1, "ro": 1e308}, "ro", ["0 to 752"]),
    ("com", {**COM, "r": 1e308}, "r", ["from 0 to 752"]),
    ("com", {**COM, "cy": 1e200}, "cy", ["from -752 to 752"]),
    ("radial", {**RADIAL, "ro": 1e308}, "ro", ["from 0 to 752"]),
    ("radial", {**RADIAL, "ri": 1e308}, "ri", ["from 0 to 752"]),
    ("virtual", {"shape": "rect", "y": 0, "x": -1e300, "height": 2, "width": 2e300}, "x", ["752"]),
    ("virtual", {"shape": "rect", "y": 0, "x": 0, "height": 2, "width": 10**400}, "width", ["fin"]),
    ("virtual", {"shape": "rect", "y": 0, "x": 0, "height": 753, "width": 2}, "height", ["752"]),
    (
        "virtual",
        {"shape": "polygon", "points": [[0, 0], [1e308, 1e308], [0, 5]]},
        "points",
        ["vertex 1 y", "from -752 to 752"],
    ),
    ("virtual", {"shape": "rect", "y": 40, "x": 0, "height": 5, "width": 5}, "y", ["outside"]),
    ("virtual", {"shape": "rect", "y": 0, "x": -9, "height": 5, "width": 9}, "x", ["outside"]),
    (
        "virtual",
        {"shape": "rect", "y": 0, "x": 0, "height": 0, "width": 5},
        "height",
        ["from 1 to 752"],
    ),
    ("virtual", {"shape": "rect", "y": 0, "x": 0.5, "height": 2, "width": 5}, "x", ["whole"]),
    ("virtual", {"shape": "point", "y": 33, "x": 0}, "y", ["at most 32"]),
    ("virtual", {"shape": "point", "y": 0, "x": -1}, "x", ["at least 0"]),
    ("virtual", {"shape": "polygon"}, "points", ["required"]),
    ("virtual", {"shape": "polygon", "points": [[0, 0], [5, 5]]}, "points", ["3 to 1000"]),
    ("virtual", {"shape": "polygon", "points": "0,0 5,5 0,5"}, "points", ["3 to 1000"]),
    ("virtual", {"shape": "polygon", "points": [[0, 0], [5], [0, 5]]}, "points", ["vertex 1"]),
    ("virtual", {"shape": "polygon", "points": [[0, 0], [5, math.nan], [0, 5]]}, "points", ["x"]),
    (
        "virtual",
        {"shape": "polygon", "points": [[50, 50], [60, 50], [60, 60]]},
        "points",
        ["no pixel"],
    ),
    ("pick", {"x": 3}, "y", ["required"]),
    ("pick", {"y": 7, "x": 3}, "y", ["at most 6"]),
    ("pick", {"y": 0, "x": 13}, "x", ["at most 12"]),
    ("pick", {"y": 0, "x": -1}, "x", ["at least 0"]),
    ("pick", {"y": 0, "x": 2.5}, "x", ["whole"]),
    ("pick", {"y": 0, "x": 2, "z": 1}, "z", ["not a parameter"]),
    ("com", {"cx": 20, "cy": 15}, "r", ["required"]),
    ("com", {**COM, "ri": 5}, "r", ["greater than ri"]),
    ("com", {**COM, "scan_rotation": math.nan}, "scan_rotation", ["finite"]),
    ("com", {**COM, "flip_y": "yes"}, "flip_y", ["true or false"]),
    ("com", {**COM, "flip_y": 1}, "flip_y", ["true or false"]),
    ("com", {**COM, "rotation": 3}, "rotation", ["not a parameter", "scan_rotation"]),
    ("com", {**COM, "cx": -30}, "cx", ["no pixel"]),
    ("radial", {**RADIAL, "bins": 0}, "bins", ["at least 1"]),
    ("radial", {**RADIAL, "bins": 5000}, "bins", ["at most 1024"]),
    ("radial", {**RADIAL, "bins": 2.5}, "bins", ["whole"]),
    ("radial", {**RADIAL, "ri": 12}, "ro", ["greater than ri"]),
    ("radial", {"cx": 20, "cy": 15, "bins": 4}, "ro", ["required"]),
    ("sum", {"roi": 1}, "roi", ["not a parameter", "expected max"]),
    ("sum", {"max": "no"}, "max", ["true or false"]),
    ("masks", {}, "masks", ["required", "(m, 33, 47)"]),
    ("masks", {"masks": np.ones((2, 47, 33))}, "masks", ["(2, 47, 33)", "expected (m, 33, 47)"]),
    ("masks", {"masks": np.ones((33, 46))}, "masks", ["expected (m, 33, 47) or (33, 47)"]),
    ("masks", {"masks": np.ones((0, 33, 47))}, "masks", ["expected (m, 33, 47)"]),
    ("masks", {"masks": np.ones((2, 1, 33, 47))}, "masks", ["expected (m, 33, 47)"]),
    ("masks", {"masks": np.ones((300, 33, 47), np.uint8)}, "masks", ["at most 256"]),
    ("masks", {"masks": np.ones(SIG).tolist()}, "masks", ["numpy array"]),
    ("masks", {"masks": np.full(SIG, np.nan)}, "masks", ["NaN"]),
    ("masks", {"masks": np.ones(SIG, complex)}, "masks", ["real numbers"]),
    ("masks", {"masks": np.ones(SIG, "U1")}, "masks", ["real numbers"]),
]


@pytest.mark.parametrize(("name", "params", "field", "words"), BAD)
def test_it_refuses_bad_parameters(name: str, params: Any, field: str, words: list[str]) -> None:
    refused(name, params, field, *words)


def test_it_refuses_unknown_analyses() -> None:
    message = refused("fft", {}, "analysis", "'fft'")
    assert "sum, pick, virtual, com, radial, masks" in message
    refused(None, {}, "analysis", "None")  # type: ignore[arg-type]


def test_it_refuses_params_that_are_not_a_mapping() -> None:
    refused("sum", [1, 2], "params", "object")
    assert build("sum", None).params == {"max": True}


def test_a_one_dimensional_scan_picks_by_x() -> None:
    assert build("pick", {"x": 90}, nav=(91,)).index == 90
    refused("pick", {"y": 1, "x": 3}, "y", "at most 0", nav=(91,))


def test_it_accepts_numpy_scalars_and_normalises_to_json() -> None:
    analysis = build(
        "virtual", {"shape": "disk", "cx": np.float32(20.5), "cy": np.int64(3), "r": 4}
    )
    assert analysis.params == {"shape": "disk", "cx": 20.5, "cy": 3.0, "r": 4.0}
    json.dumps(analysis.params)
    com = build("com", {**COM, "flip_y": np.bool_(True)})
    assert com.params == {
        **COM,
        "ri": 0.0,
        "scan_rotation": 0.0,
        "flip_y": True,
        "descan": "none",
        "descan_reference": None,
        "ricom_radius": 8,
    }
    radial = build("radial", RADIAL)
    assert radial.params["ri"] == 0.0 and type(radial.params["bins"]) is int


def test_a_centre_outside_the_frame_is_fine_while_the_disk_reaches_it() -> None:
    analysis = build("virtual", {"shape": "disk", "cx": 50, "cy": -3, "r": 6})
    assert analysis.masks.count == 1


def test_a_single_mask_becomes_a_stack_of_one() -> None:
    analysis = build("masks", {"masks": user_masks()[0]})
    assert analysis.params["masks"].shape == (1, *SIG)


def test_describe_lists_every_analysis_as_json() -> None:
    described = json.loads(json.dumps(describe_analyses()))
    assert [d["name"] for d in described] == list(ANALYSES)
    for entry in described:
        declaration = ANALYSES[entry["name"]].declaration
        assert [r["name"] for r in entry["results"]] == list(declaration.result_names)
        assert entry["preview"] in declaration.result_names
        for mode in entry["modes"]:
            for param in mode["params"]:
                assert set(param) >= {"name", "type", "required", "default", "unit", "help"}
                assert param["type"] in {
                    "number",
                    "integer",
                    "boolean",
                    "choice",
                    "points",
                    "masks",
                    "job",
                }
        # the standard case sends exactly described parameters
        taken = {p["name"] for m in entry["modes"] for p in m["params"]}
        assert set(CASES[entry["name"]]) <= taken | {p["name"] for p in entry["params"]}
    virtual = described[[d["name"] for d in described].index("virtual")]
    modes = {m["key"]: [p["name"] for p in m["params"]] for m in virtual["modes"]}
    assert modes["virtual:ring"] == ["cx", "cy", "ri", "ro"]
    assert modes["virtual:rect"][:2] == modes["virtual:point"] == ["y", "x"]
    assert virtual["modes"][0]["fixed"] == {"shape": "disk"}


@pytest.mark.parametrize("name", tuple(CASES))
def test_result_names_match_the_results(name: str) -> None:
    analysis = build(name, CASES[name])
    results = analysis.results(analysis.new_state())
    assert tuple(results) == analysis.result_names
