"""The page's pure ES modules (no DOM needed) run in Chromium against numpy references.

npy.js must read every array the server can send, colormap.js must match the perceptual maps,
shapes.js and modes.js must produce the parameters the API validates. The modules are served
to the page from static/js by a Playwright route, so no portal is needed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import ROOT

pytestmark = pytest.mark.browser

ORIGIN = "http://js.test"


@pytest.fixture(scope="module")
def js(browser: Any) -> Iterator[Any]:
    """A page on a made-up origin where ``/static/js/*.js`` are the repository's files."""
    page = browser.new_page()

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/static/js/"):
            body = (ROOT / path.lstrip("/")).read_text()
            route.fulfill(body=body, content_type="text/javascript")
        else:
            route.fulfill(body="<!doctype html><title>js</title>", content_type="text/html")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    yield page
    page.close()


def _npy_b64(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, array)
    return base64.b64encode(buf.getvalue()).decode()


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
def test_it_parses_npy_files_like_numpy(js: Any, array: np.ndarray) -> None:
    got = js.evaluate(
        """async (b64) => {
            const { parseNpy } = await import("/static/js/npy.js");
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const a = parseNpy(bytes.buffer);
            return { shape: a.shape, values: Array.from(a.values, String) };
        }""",
        _npy_b64(array),
    )
    assert got["shape"] == list(array.shape)
    values = np.array([float(v) for v in got["values"]], dtype=np.float32)
    expected = np.ascontiguousarray(array).astype(np.float32).ravel()
    np.testing.assert_array_equal(values, expected)


def test_it_refuses_bytes_that_are_not_npy(js: Any) -> None:
    message = js.evaluate(
        """async () => {
            const { parseNpy } = await import("/static/js/npy.js");
            try { parseNpy(new Uint8Array(11).buffer); } catch (e) { return e.message; }
        }"""
    )
    assert "not an .npy" in message


def test_it_builds_viridis_and_inferno_tables_close_to_matplotlib(js: Any) -> None:
    lut = js.evaluate(
        """async () => {
            const { COLORMAPS } = await import("/static/js/colormap.js");
            return { viridis: Array.from(COLORMAPS.viridis), inferno: Array.from(COLORMAPS.inferno) };
        }"""
    )
    # matplotlib's own table entries 0, 128 and 255, times 255
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


def test_it_turns_modes_into_the_parameters_the_api_takes(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const { initialValues, jobParams, modeOfJob } = await import("/static/js/modes.js");
            const ring = initialValues("virtual:ring", [128, 128], [64, 64]);
            return {
                ring: jobParams("virtual:ring", { ...ring, extra: 1 }),
                com: jobParams("com", initialValues("com", [128, 128], [64, 64])),
                masks: [jobParams("masks", {}), jobParams("masks", {}, { maskId: 7 })],
                back: modeOfJob({ analysis: "virtual", params: { shape: "disk", cx: 1, cy: 2, r: 3 } }),
            };
        }"""
    )
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


def test_it_keeps_rectangles_whole_and_rings_ordered_while_dragging(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const { Rect, Ring } = await import("/static/js/shapes.js");
            const rect = new Rect({ y: 10, x: 10, height: 5, width: 5 });
            rect.dragHandle("br", { x: 20.2, y: 30.7 });  // to the nearest pixel boundary
            const squashed = new Rect({ y: 10, x: 10, height: 5, width: 5 });
            squashed.dragHandle("tl", { x: 40, y: 40 });  // past the opposite corner
            const ring = new Ring({ cx: 50, cy: 50, ri: 10, ro: 20 });
            ring.dragHandle("ri", { x: 80, y: 50 });  // the inner radius cannot pass the outer
            return { rect: rect.params(), squashed: squashed.params(), ring: ring.params() };
        }"""
    )
    assert got["rect"] == {"y": 10, "x": 10, "height": 21, "width": 11}
    assert got["squashed"] == {"y": 14, "x": 14, "height": 1, "width": 1}
    assert got["ring"]["ri"] == 19.5 and got["ring"]["ro"] == 20
