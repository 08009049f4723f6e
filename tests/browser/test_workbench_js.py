"""The workbench's small pure modules in Chromium: plot ticks and axes, which results are
plotted, read speeds, and the Python literals of Copy as Python."""

from __future__ import annotations

import ast
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _run(js: Any, module: str, body: str, arg: Any = None) -> Any:
    return js.evaluate(
        f"""async (arg) => {{ const m = await import("/static/js/{module}"); {body} }}""", arg
    )


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0, 51, [0, 20, 40]),
        (1.7, 49.3, [10, 20, 30, 40]),
        (-0.3, 0.45, [-0.2, 0, 0.2, 0.4]),
        (3699, 4145, [3700, 3800, 3900, 4000, 4100]),
        (5, 5, [5]),
    ],
)
def test_ticks_are_round_and_inside_the_range(js: Any, lo: float, hi: float, ticks: list) -> None:
    got = _run(js, "profileplot.js", "return m.niceTicks(arg[0], arg[1]);", [lo, hi])
    assert got == pytest.approx(ticks)


def test_the_results_plotted_are_the_1d_ones_and_radial_profiles(js: Any) -> None:
    kinds = _run(
        js,
        "resultplot.js",
        "return arg.map((shape) => m.plotKind({ shape }));",
        ["bins", "nav", "sig", "nav+bins", "nav+m", "nav+bins+orders", "m"],
    )
    assert kinds == ["line", None, None, "profile", None, None, "line"]


def test_radial_bins_are_plotted_at_their_middle_radius(js: Any) -> None:
    axis = _run(
        js, "resultplot.js", "return m.xAxis('bins', 4, arg);", {"ri": 2, "ro": 10, "bins": 4}
    )
    assert axis == {"x": [3, 5, 7, 9], "label": "radius (px)"}
    axis = _run(js, "resultplot.js", "return m.xAxis('m', 3, {});")
    assert axis == {"x": [0, 1, 2], "label": "index"}


def test_a_profile_is_read_at_the_picked_position(js: Any) -> None:
    # a 2 x 3 scan with 4 bins: value = 100 * y + 10 * x + bin
    got = _run(
        js,
        "resultplot.js",
        """const values = new Float32Array(24).map((_, i) => {
               const b = i % 4, x = Math.floor(i / 4) % 3, y = Math.floor(i / 12);
               return 100 * y + 10 * x + b; });
           const d = m.plotData({ id: 7, params: { ri: 0, ro: 8, bins: 4 } },
               { name: "profile", shape: "nav+bins", unit: "data" },
               { shape: [2, 3, 4], values }, { y: 1, x: 2 });
           return { y: Array.from(d.y), title: d.title, yLabel: d.yLabel };""",
    )
    assert got == {
        "y": [120, 121, 122, 123],
        "title": "profile of job 7 at scan row 1, column 2",
        "yLabel": "profile (data units)",
    }


def test_a_profile_outside_the_roi_says_so(js: Any) -> None:
    title = _run(
        js,
        "resultplot.js",
        """const d = m.plotData({ id: 8, params: {} }, { name: "profile", shape: "nav+bins" },
               { shape: [1, 2, 3], values: new Float32Array([1, 2, 3, NaN, NaN, NaN]) },
               { y: 0, x: 1 });
           return d.title;""",
    )
    assert title == "profile of job 8 at scan row 0, column 1 (outside ROI: no values)"


@pytest.mark.parametrize(
    ("gbs", "text"),
    [(2.0, "2.00 GB/s"), (0.5, "500 MB/s"), (0.0123, "12.3 MB/s"), (4e-6, "4.00 kB/s"), (0, "")],
)
def test_read_speeds_say_something_for_tiny_jobs(js: Any, gbs: float, text: str) -> None:
    assert _run(js, "jobstatus.js", "return m.formatRate(arg);", gbs) == text


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            "The portal was stopped or restarted while this job ran, so the job stopped with it; "
            "run it again.",
            "The job failed: The portal was stopped or restarted while this job ran, so the job "
            "stopped with it; run it again.",
        ),
        (
            "/d/a.raw: cannot read the data file: No such file or directory",
            "The job failed: /d/a.raw: cannot read the data file: No such file or directory. "
            "Change the parameters or press Run to try again.",
        ),
        (
            None,
            "The job failed: no reason was given. Change the parameters or press Run to try again.",
        ),
    ],
    ids=["says-what-to-do", "no-full-stop", "no-reason"],
)
def test_a_failure_is_one_sentence_with_one_full_stop(js: Any, error: Any, text: str) -> None:
    assert _run(js, "jobstatus.js", "return m.failureText(arg);", error) == text


def test_the_script_is_python_with_the_job_in_it(js: Any) -> None:
    body = {
        "dataset": 3,
        "analysis": "virtual",
        "params": {"shape": "disk", "r": 4.5, "flip": True, "x": None},
    }
    source = _run(
        js,
        "pysnippet.js",
        "return m.pythonSnippet('http://portal.test', arg, ['intensity'], 'abc123');",
        body,
    )
    tree = ast.parse(source)  # valid Python
    literals = [
        ast.literal_eval(n.args[1])
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "api" and len(n.args) == 2
    ]
    assert literals == [body]
    assert 'TOKEN = "abc123"' in source and 'BASE = "http://portal.test"' in source
