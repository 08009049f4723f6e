"""The page's pure ES modules (no DOM) run under Node against numpy references.

npy.js must read every array the server can send, colormap.js must match the perceptual maps,
shapes.js and modes.js must produce the parameters the API validates.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import ROOT
from tests.conftest import require_or_skip

JS = ROOT / "static" / "js"


def _node(script: str) -> Any:
    node = shutil.which("node")
    if node is None:
        require_or_skip("BROWSER", "node is not installed (apt-get install nodejs)")
    out = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype="<f4").reshape(3, 4) / 7,
        np.arange(12, dtype="<u2").reshape(3, 4) * 1000,
        np.arange(12, dtype=">u2").reshape(3, 4) * 1000,
        np.arange(-6, 6, dtype="<i4").reshape(2, 6),
        np.arange(24, dtype="<f8").reshape(2, 3, 4) / 3,
        np.arange(12, dtype=">f4").reshape(3, 4) - 5.5,
        np.asfortranarray(np.arange(12, dtype="<f4").reshape(3, 4)),
        np.array([[1.0, np.nan], [np.inf, -2.0]], dtype="<f4"),
        np.arange(5, dtype="|u1"),
        np.array([[True, False]]),
    ],
    ids=[
        "f4",
        "u2",
        "u2-big-endian",
        "i4",
        "f8-3d",
        "f4-big-endian",
        "fortran",
        "nan",
        "u1",
        "bool",
    ],
)
def test_it_parses_npy_files_like_numpy(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "a.npy"
    np.save(path, array)
    got = _node(f"""
        import {{ readFileSync }} from "node:fs";
        import {{ parseNpy }} from "{JS / "npy.js"}";
        const b = readFileSync("{path}");
        const a = parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
        console.log(JSON.stringify({{ shape: a.shape, values: Array.from(a.values, String) }}));
    """)
    assert got["shape"] == list(array.shape)
    values = np.array([float(v) for v in got["values"]], dtype=np.float32)
    expected = np.ascontiguousarray(array).astype(np.float32).ravel()
    np.testing.assert_array_equal(values, expected)


def test_it_refuses_bytes_that_are_not_npy() -> None:
    got = _node(f"""
        import {{ parseNpy }} from "{JS / "npy.js"}";
        try {{ parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).buffer); }}
        catch (e) {{ console.log(JSON.stringify(e.message)); }}
    """)
    assert "not an .npy" in got


def test_it_builds_viridis_and_inferno_tables_close_to_matplotlib() -> None:
    lut = _node(f"""
        import {{ COLORMAPS }} from "{JS / "colormap.js"}";
        console.log(JSON.stringify({{ viridis: Array.from(COLORMAPS.viridis),
                                      inferno: Array.from(COLORMAPS.inferno) }}));
    """)
    # matplotlib's own values at 0, 0.5 and 1 (from its _cm_listed tables), times 255
    references = {
        "viridis": {0: (68, 1, 84), 128: (33, 145, 140), 255: (253, 231, 37)},
        "inferno": {0: (0, 0, 4), 128: (188, 55, 84), 255: (252, 255, 164)},
    }
    for name, points in references.items():
        table = np.array(lut[name]).reshape(256, 3)
        for index, rgb in points.items():
            assert np.abs(table[index] - rgb).max() <= 6, (name, index, table[index])
        # perceptual maps get brighter monotonically
        brightness = table @ [0.2126, 0.7152, 0.0722]
        assert (np.diff(brightness) > -1).all(), name


def test_it_turns_modes_into_the_parameters_the_api_takes() -> None:
    got = _node(f"""
        import {{ initialValues, jobParams, modeOfJob }} from "{JS / "modes.js"}";
        const ring = initialValues("virtual:ring", [128, 128], [64, 64]);
        console.log(JSON.stringify({{
            ring: jobParams("virtual:ring", {{ ...ring, extra: 1 }}),
            com: jobParams("com", initialValues("com", [128, 128], [64, 64])),
            masks: [jobParams("masks", {{}}), jobParams("masks", {{}}, {{ maskId: 7 }})],
            back: modeOfJob({{ analysis: "virtual", params: {{ shape: "disk", cx: 1, cy: 2, r: 3 }} }}),
        }}));
    """)
    assert got["ring"] == {"shape": "ring", "cx": 63.5, "cy": 63.5, "ri": 26, "ro": 51}
    assert got["com"] == {
        "cx": 63.5,
        "cy": 63.5,
        "r": 21,
        "ri": 0,
        "scan_rotation": 0,
        "flip_y": False,
    }
    assert got["masks"] == [None, {"masks": 7}]
    assert got["back"] == {"mode": "virtual:disk", "values": {"cx": 1, "cy": 2, "r": 3}}


def test_it_keeps_rectangles_whole_and_rings_ordered_while_dragging() -> None:
    got = _node(f"""
        import {{ Rect, Ring }} from "{JS / "shapes.js"}";
        const rect = new Rect({{ y: 10, x: 10, height: 5, width: 5 }});
        rect.dragHandle("br", {{ x: 20.2, y: 30.7 }});  // to the pixel boundary nearest the pointer
        const squashed = new Rect({{ y: 10, x: 10, height: 5, width: 5 }});
        squashed.dragHandle("tl", {{ x: 40, y: 40 }});  // past the opposite corner
        const ring = new Ring({{ cx: 50, cy: 50, ri: 10, ro: 20 }});
        ring.dragHandle("ri", {{ x: 80, y: 50 }});  // the inner radius cannot pass the outer
        console.log(JSON.stringify({{ rect: rect.params(), squashed: squashed.params(),
                                      ring: ring.params() }}));
    """)
    assert got["rect"] == {"y": 10, "x": 10, "height": 21, "width": 11}
    assert got["squashed"] == {"y": 14, "x": 14, "height": 1, "width": 1}
    assert got["ring"]["ri"] == 19.5 and got["ring"]["ro"] == 20
