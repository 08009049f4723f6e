"""The page's pure ES modules (no DOM needed) run in Chromium against numpy references.

npy.js must read every array the server can send, colormap.js must match the perceptual maps,
shapes.js and modes.js must produce the parameters the API validates. The modules are served
to the page from static/js by a Playwright route, so no portal is needed.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import declarations, describe_analyses

pytestmark = pytest.mark.browser


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
        np.array([[3 + 4j, -1j], [np.nan, 0.5]], dtype="<c8"),
        (np.arange(8) * (1 - 2j)).astype(">c16").reshape(2, 2, 2),
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
        "c8-magnitude",
        "c16-big-endian-magnitude",
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
    expected = np.abs(array) if array.dtype.kind == "c" else array  # complex: the magnitude
    expected = np.ascontiguousarray(expected).astype(np.float32).ravel()
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
        """async (analyses) => {
            const m = await import("/static/js/modes.js");
            const modes = m.menuModes(analyses);
            const mode = (key) => m.modeByKey(modes, key);
            const ring = m.initialValues(mode("virtual:ring"), [128, 128], [64, 64]);
            return {
                keys: modes.map((x) => x.key),
                ring: m.jobParams(mode("virtual:ring"), { ...ring, extra: 1 }),
                com: m.jobParams(mode("com"), m.initialValues(mode("com"), [128, 128], [64, 64])),
                radial: m.initialValues(mode("radial"), [128, 128], [64, 64]).bins,
                pick: m.initialValues(mode("pick"), [128, 128], [64, 32]),
                masks: [
                    m.jobParams(mode("masks"), {}),
                    m.jobParams(mode("masks"), {}, { maskId: 7 }),
                ],
                back: m.modeOfJob(modes, {
                    analysis: "virtual", params: { shape: "disk", cx: 1, cy: 2, r: 3 },
                }),
                scan: modes.filter((x) => x.scan).map((x) => x.analysis),
            };
        }""",
        describe_analyses(),
    )
    assert got["keys"] == [m.key for d in declarations() for m in d.all_modes()]
    assert got["ring"] == {"shape": "ring", "cx": 63.5, "cy": 63.5, "ri": 26, "ro": 51}
    assert got["com"] == {
        "cx": 63.5,
        "cy": 63.5,
        "r": 21,
        "ri": 0,
        "scan_rotation": 0,
        "flip_y": False,
        "descan": "none",
        "ricom_radius": 8,
    }
    assert got["radial"] == 16  # the declared suggestion for a required parameter
    assert got["pick"] == {"slice": 0, "y": 32, "x": 16}  # slice: the declared default (n-d scans)
    assert got["masks"] == [None, {"masks": 7}]
    assert got["back"]["mode"]["key"] == "virtual:disk"
    assert got["back"]["values"] == {"cx": 1, "cy": 2, "r": 3}
    assert "sum" not in got["scan"] and "com" in got["scan"]


TOY_ANALYSIS = {
    "name": "blur",
    "title": "Blurred frame",
    "summary": "A made-up analysis: the form must come from its declaration alone.",
    "params": [
        {
            "name": "sigma",
            "type": "number",
            "required": False,
            "default": 1.5,
            "unit": "px",
            "minimum": 0,
            "help": "Width of the blur.",
        },
        {
            "name": "passes",
            "type": "integer",
            "required": True,
            "default": None,
            "unit": "",
            "maximum": 9,
            "suggested": 2,
            "help": "How often.",
        },
        {
            "name": "edge",
            "type": "choice",
            "required": False,
            "default": "wrap",
            "unit": "",
            "choices": ["reflect", "wrap"],
            "help": "The border.",
        },
    ],
    "results": [{"name": "frame", "shape": "sig", "display": "image"}],
    "preview": "frame",
    "field": None,
}
TOY_ANALYSIS["modes"] = [
    {
        "key": "blur",
        "title": "Blurred frame",
        "params": TOY_ANALYSIS["params"],
        "widget": "",
        "help": "",
        "fixed": {},
    }
]


def test_it_builds_a_form_and_a_menu_from_a_declaration(js: Any) -> None:
    got = js.evaluate(
        """async (analyses) => {
            const m = await import("/static/js/modes.js");
            const { paramsForm } = await import("/static/js/paramsform.js");
            const modes = m.menuModes(analyses);
            const root = document.createElement("div");
            const select = document.createElement("select");
            m.fillMenu(select, modes);
            const blur = m.modeByKey(modes, "blur");
            const values = m.initialValues(blur, [8, 8], [4, 4]);
            const changes = [];
            paramsForm(root, { mode: blur, values, onInput: (v) => changes.push(v) });
            const sigma = root.querySelector("input[data-param=sigma]");
            const first = [sigma.value, sigma.placeholder, sigma.min, sigma.step];
            sigma.value = "2.5";
            sigma.dispatchEvent(new Event("change"));
            const edge = root.querySelector("select[data-param=edge]");
            const edgeFirst = edge.value;
            edge.value = "reflect";
            edge.dispatchEvent(new Event("change"));
            const labels = [...root.querySelectorAll("label")];
            return {
                options: [...select.options].map((o) => [o.value, o.text]),
                groups: [...select.querySelectorAll("optgroup")].map((g) => g.label),
                labels: labels.map((l) => [l.textContent.trim(), l.title]),
                sigma: first,
                passes: root.querySelector("input[data-param=passes]").max,
                edge: [edgeFirst, [...edge.options].map((o) => o.value)],
                changes,
            };
        }""",
        [*describe_analyses(), TOY_ANALYSIS],
    )
    assert got["options"][-1] == ["blur", "Blurred frame"]
    assert ["virtual:disk", "Disk (bright field)"] in got["options"]
    assert "Virtual detector" in got["groups"]  # an analysis with modes is a group
    assert got["labels"] == [
        ["sigma  px", "Width of the blur.; at least 0; default 1.5"],
        ["passes", "How often.; at most 9"],
        ["edge reflectwrap", 'The border.; default "wrap"'],
    ]
    assert got["sigma"] == ["1.5", "1.5", "0", "0.1"]  # the default is the first value
    assert got["passes"] == "9"
    assert got["edge"] == ["wrap", ["reflect", "wrap"]]  # a choice is a menu of its choices
    assert got["changes"] == [
        {"sigma": 2.5, "passes": 2, "edge": "wrap"},
        {"sigma": 2.5, "passes": 2, "edge": "reflect"},
    ]


def test_a_form_starts_from_the_dataset_s_calibrated_values(js: Any) -> None:
    optics = {
        **TOY_ANALYSIS,
        "name": "optics",
        "modes": [
            {
                **TOY_ANALYSIS["modes"][0],
                "key": "optics",
                "params": [
                    {
                        "name": "energy",
                        "type": "number",
                        "required": True,
                        "default": None,
                        "unit": "keV",
                        "help": "Beam energy.",
                        "calibration": "beam_energy",
                    },
                    {
                        "name": "step",
                        "type": "number",
                        "required": True,
                        "default": None,
                        "unit": "nm",
                        "help": "Scan step.",
                        "calibration": "scan_step",
                        "suggested": 0.1,
                    },
                ],
            }
        ],
    }
    got = js.evaluate(
        """async (analyses) => {
            const m = await import("/static/js/modes.js");
            const calibrated = m.modeByKey(m.menuModes(analyses, { beam_energy: 300 }), "optics");
            const bare = m.modeByKey(m.menuModes(analyses), "optics");
            return [m.initialValues(calibrated, [8, 8], [4, 4]), m.initialValues(bare, [8, 8], [4, 4])];
        }""",
        [optics],
    )
    # the calibrated value where the dataset has one, else the suggestion, else nothing
    assert got == [{"energy": 300, "step": 0.1}, {"step": 0.1}]


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


def test_the_lattice_edits_the_strain_parameters(js: Any) -> None:
    got = js.evaluate(
        """async (analyses) => {
            const m = await import("/static/js/modes.js");
            const { Lattice, isShapeKind } = await import("/static/js/shapes.js");
            const mode = m.modeByKey(m.menuModes(analyses), "strain:region");
            const first = m.initialValues(mode, [128, 96], [8, 10]);
            const lattice = new Lattice(first);
            lattice.dragHandle("a", { x: first.cx + 20.04, y: first.cy + 1.26 });
            lattice.dragHandle("r", { x: first.cx + 3, y: first.cy + 4 });
            lattice.moveBy(2, -1);
            const square = new Lattice({ cx: 10, cy: 10, ax: 10, ay: 0, bx: 0, by: 10, r: 2 });
            return {
                widget: isShapeKind(mode.widget),
                first,
                params: m.jobParams(mode, lattice.params()),
                handles: lattice.handles().map((h) => h.name),
                points: square.points(21, 31).map((q) => [q.i, q.j]),
            };
        }""",
        describe_analyses(),
    )
    assert got["widget"] is True
    assert got["first"] == {
        "cx": 47.5,
        "cy": 63.5,
        "ax": 19,
        "ay": 0,
        "bx": 0,
        "by": 19,
        "r": 3,
        "search": 3,
        "descan": 0,
        "tolerance": 1,
        "log": False,
        "scan_rotation": 0,
        "flip_y": False,
        "ref_height": 1,
        "ref_width": 1,
    }
    assert got["params"] == {
        "reference": "region",
        "cx": 49.5,
        "cy": 62.5,
        "ax": 20,
        "ay": 1.3,
        "bx": 0,
        "by": 19,
        "r": 5,
        "search": 3,
        "descan": 0,
        "tolerance": 1,
        "log": False,
        "scan_rotation": 0,
        "flip_y": False,
        "ref_height": 1,
        "ref_width": 1,
    }
    assert got["handles"] == ["centre", "a", "b", "r"]
    # the disks whose circles (r = 2) reach into the 21 x 31 frame, one row and column outside it
    assert sorted(got["points"]) == sorted(
        [i, j]
        for i in range(-1, 3)
        for j in range(-1, 2)
        if -2 < 10 + 10 * i < 33 and -2 < 10 + 10 * j < 23
    )


def test_a_job_socket_hands_on_the_final_image_that_follows_a_finished_message(js: Any) -> None:
    image = np.arange(12, dtype="<f4").reshape(3, 4) / 7
    got = js.evaluate(
        """async (b64) => {
            const { JobSocket } = await import("/static/js/jobclient.js");
            const messages = [];
            // no server at this origin: the socket never connects, its frames are fed by hand
            const socket = new JobSocket("/ws/jobs/1/", { onMessage: (m) => messages.push(m) });
            const npy = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
            const finished = { type: "finished", done: 12, total: 12, results: [], image: "intensity" };
            socket.receive(JSON.stringify(finished));
            const before = messages.length;  // held until its image has come
            socket.receive(npy);
            socket.receive(JSON.stringify({ type: "finished", done: 12, total: 12, results: [] }));
            // a finished job's status on connect brings its image the same way
            socket.receive(JSON.stringify({ type: "status", status: "finished", image: "intensity" }));
            socket.receive(npy);
            return {
                status: messages[2].type, statusShape: messages[2].imageArray.shape,
                before, closed: socket.closed, count: messages.length,
                image: messages[0].image, shape: messages[0].imageArray.shape,
                values: Array.from(messages[0].imageArray.values, String),
                plain: "imageArray" in messages[1],
            };
        }""",
        _npy_b64(image),
    )
    assert got["before"] == 0 and got["count"] == 3 and got["closed"]
    assert got["status"] == "status" and got["statusShape"] == [3, 4]
    assert got["image"] == "intensity" and got["shape"] == [3, 4]
    values = np.array([float(v) for v in got["values"]], dtype=np.float32)
    np.testing.assert_array_equal(values, image.ravel())
    assert got["plain"] is False  # a finished message without an image is handed on at once


def test_a_job_feed_hands_on_only_the_followed_jobs_messages(js: Any) -> None:
    image = np.arange(6, dtype="<f4").reshape(2, 3) / 3
    got = js.evaluate(
        """async (b64) => {
            const { JobFeed } = await import("/static/js/jobclient.js");
            const seen = [];
            const handlers = (tag) => ({
                onMessage: (m) => seen.push([tag, m.type, m.id, m.imageArray ? m.imageArray.shape : null]),
                onPartial: (h, v) => seen.push([tag, "pixels", h.id, v.length]),
                onState: (s, d) => seen.push([tag, "state:" + s, d]),
                onReconnect: (again) => seen.push([tag, "reconnect", again]),
            });
            // no server at this origin: frames are fed by hand
            const feed = new JobFeed("/ws/jobs/");
            const npy = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
            feed.follow(1, handlers("a"));
            feed.receive(JSON.stringify({ type: "status", id: 1, status: "running" }));
            feed.receive(JSON.stringify({ type: "partial", id: 1, shape: [2, 3] }));
            feed.receive(new Float32Array(6).buffer);
            feed.follow(2, handlers("b"));
            // the old job's frames still in flight are dropped, its binary frame too
            feed.receive(JSON.stringify({ type: "partial", id: 1, shape: [2, 3] }));
            feed.receive(new Float32Array(6).buffer);
            feed.receive(JSON.stringify({ type: "progress", id: 1, done: 3 }));
            feed.receive(JSON.stringify({ type: "status", id: 2, status: "running" }));
            feed.receive(JSON.stringify({ type: "finished", id: 2, image: "intensity" }));
            feed.receive(npy);
            feed.receive(JSON.stringify({ type: "progress", id: 2, done: 4 }));  // after the end
            feed.follow(3, handlers("c"));
            feed.receive(JSON.stringify({ type: "refused", id: 3, code: 4404 }));
            const following = feed.job;
            feed.close();
            return { seen, following };
        }""",
        _npy_b64(image),
    )
    assert got["seen"] == [
        ["a", "state:live", None],
        ["a", "reconnect", False],
        ["a", "status", 1, None],
        ["a", "pixels", 1, 6],
        ["b", "state:live", None],
        ["b", "reconnect", False],
        ["b", "status", 2, None],
        ["b", "finished", 2, [2, 3]],
        ["c", "state:refused", 4404],
    ]
    assert got["following"] is None
