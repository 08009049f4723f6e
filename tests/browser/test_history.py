"""History and comparison on the analysis page, in a real Chromium at two screen sizes.

alice has two finished ring images of the demo (outer radius 20 and 48 px, submitted through
the API). The strip under the page lists them; a click puts one back (its parameters in the
form and on the ring, its stored image on the scan view, no new job); pinning both shows them
with the same colour limits, and the difference view shows A − B. Pixels are read from the
canvases and compared with the stored results coloured by the page's own colour tables.
Nothing may log a console error or fail a request.
"""

from __future__ import annotations

import io
import os
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import ARTIFACTS
from tests.live_portal import Portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_MS = 60_000
RING = {"shape": "ring", "cx": 64, "cy": 64, "ri": 10}
SCREENS = {"1280x720": (1280, 720), "1920x1080": (1920, 1080)}


def _npy(portal: Portal, user: str, path: str) -> np.ndarray:
    request = urllib.request.Request(  # noqa: S310 (the test server's http address)
        portal.base + path, headers={"Authorization": f"Token {portal.tokens[user]}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return np.load(io.BytesIO(response.read()))


def _wait_job(portal: Portal, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_MS / 1000
    while time.monotonic() < deadline:
        job = portal.api("alice", f"/api/jobs/{job_id}/")
        if job["status"] in ("finished", "failed", "cancelled"):
            assert job["status"] == "finished", job
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def earlier(portal: Portal) -> dict[str, Any]:
    """A dataset of alice's with two finished ring images: ``small`` (ro 20), then ``large``."""
    dataset = portal.api(
        "alice",
        "/api/datasets/",
        {"name": "history", "path": str(portal.data / "demo" / "demo.json")},
    )["id"]
    jobs = {}
    for name, ro in (("small", 20), ("large", 48)):
        body = {"dataset": dataset, "analysis": "virtual", "params": {**RING, "ro": ro}}
        jobs[name] = _wait_job(portal, portal.api("alice", "/api/jobs/", body)["id"])
        jobs[name]["intensity"] = _npy(portal, "alice", jobs[name]["results"][0]["urls"]["npy"])
    return {"dataset": dataset, **jobs}


@pytest.fixture(params=list(SCREENS), ids=list(SCREENS))
def page(request: Any, browser: Any, portal: Portal) -> Iterator[Any]:
    """alice's page at one screen size, recording console errors and failed requests."""
    width, height = SCREENS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.screen = request.param
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    portal.login(page, "alice")
    page.wait_for_load_state("networkidle")  # the home page's thumbnails, before leaving it
    yield page
    # every image has arrived (closing the page on one still loading would abort it)
    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
    context.close()
    assert problems == [], "\n".join(problems)


def _open(page: Any, portal: Portal, earlier: dict[str, Any], *, newest: bool = True) -> None:
    page.goto(f"{portal.base}/datasets/{earlier['dataset']}/analyze/")
    # the page opens on the newest scan image: the large ring (unless a test ran newer ones)
    page.wait_for_function(
        """(id) => { const s = window.__analysisPage.state;
                     return s.job && (id === null || s.job.id === id) && s.job.finalShown; }""",
        arg=earlier["large"]["id"] if newest else None,
        timeout=JOB_MS,
    )
    # the mean frame's job (the first visit's) is done: no job starts behind the test's back
    page.wait_for_function("() => window.__analysisPage.state.mean !== null", timeout=JOB_MS)
    for name in ("small", "large"):
        page.wait_for_function(
            """(id) => { const img = document.querySelector(`.hs-item[data-job="${id}"] img`);
                         return img && img.complete && img.naturalWidth > 0; }""",
            arg=earlier[name]["id"],
        )


def _lut(page: Any, name: str) -> np.ndarray:
    lut = page.evaluate(
        "async (name) => Array.from((await import('/static/js/colormap.js')).COLORMAPS[name])",
        name,
    )
    return np.array(lut, dtype=np.uint8).reshape(256, 3)


def _coloured(values: np.ndarray, lo: float, hi: float, lut: np.ndarray) -> np.ndarray:
    """What colormap.js's colourise makes of ``values`` between ``lo`` and ``hi`` (RGB)."""
    t = np.clip((values.astype(np.float64) - lo) / ((hi - lo) or 1), 0, 1)
    return lut[np.floor(t * 255 + 0.5).astype(int)]


def _offscreen(page: Any, view: str) -> np.ndarray:
    """The native-resolution pixels of an image view (``view``: a JS expression) as (h, w, 4)."""
    data = page.evaluate(
        f"""() => {{ const v = {view}; const c = v.offscreen;
                   return [c.height, c.width, Array.from(c.getContext('2d')
                           .getImageData(0, 0, c.width, c.height).data)]; }}"""
    )
    return np.array(data[2], dtype=np.uint8).reshape(data[0], data[1], 4)


def _values(page: Any, view: str) -> np.ndarray:
    return np.array(page.evaluate(f"() => Array.from({view}.image.values)"), dtype=np.float32)


def _percentile(sorted_values: np.ndarray, p: float) -> float:
    """stats.js's percentile: linear between neighbours of the sorted float32 values."""
    pos = p / 100 * (len(sorted_values) - 1)
    lo = int(np.floor(pos))
    hi = min(len(sorted_values) - 1, lo + 1)
    a, b = float(sorted_values[lo]), float(sorted_values[hi])
    return a + (b - a) * (pos - lo)


def test_the_strip_lists_earlier_results_and_a_click_restores_one(
    page: Any, portal: Portal, earlier: dict[str, Any]
) -> None:
    _open(page, portal, earlier)
    small, large = earlier["small"], earlier["large"]
    item = page.locator(f'.hs-item[data-job="{small["id"]}"]')
    assert "virtual" in item.inner_text() and "ro 20" in item.inner_text()
    assert item.locator("time").is_visible()
    jobs_before = len(portal.api("alice", f"/api/jobs/?dataset={earlier['dataset']}")["jobs"])

    item.locator(".hs-open").click()
    page.wait_for_function(
        "(id) => { const s = window.__analysisPage.state; return s.job.id === id && s.job.finalShown; }",
        arg=small["id"],
        timeout=JOB_MS,
    )
    # the parameters are back, in the form and on the detector's ring
    assert page.input_value("#analysis-select") == "virtual:ring"
    for name, value in small["params"].items():
        if name != "shape":
            assert float(page.input_value(f"input[data-param={name}]")) == value, name
    ring = page.evaluate("() => window.__analysisPage.editor.params()")
    assert {k: ring[k] for k in ("cx", "cy", "ri", "ro")} == {
        k: small["params"][k] for k in ("cx", "cy", "ri", "ro")
    }
    assert "hs-current" in (item.get_attribute("class") or "")
    # its image is the stored result, coloured min to max as the page's colour table says
    view = "window.__analysisPage.scanView"
    np.testing.assert_array_equal(
        _values(page, view), small["intensity"].astype(np.float32).ravel()
    )
    page.evaluate(f"() => {view}.setDisplay({{lo: 0, hi: 100, log: false, cmap: 'viridis'}})")
    values = small["intensity"].astype(np.float32)
    expected = _coloured(values, float(values.min()), float(values.max()), _lut(page, "viridis"))
    np.testing.assert_array_equal(_offscreen(page, view)[..., :3], expected)
    # nothing was computed again
    after = portal.api("alice", f"/api/jobs/?dataset={earlier['dataset']}")["jobs"]
    assert len(after) == jobs_before
    if page.screen == "1280x720":
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#history").screenshot(path=str(ARTIFACTS / "history-strip.png"))
    assert large["id"] != small["id"]


def test_two_pinned_results_share_their_colour_limits_and_have_a_difference(
    page: Any, portal: Portal, earlier: dict[str, Any]
) -> None:
    _open(page, portal, earlier)
    small, large = earlier["small"], earlier["large"]
    for job in (small, large):  # A, then B
        page.click(f'.hs-item[data-job="{job["id"]}"] .hs-pin')
    cmp = "window.__analysisPage.history.compare.views"
    page.wait_for_function(f"() => {cmp}.a.image && {cmp}.b.image")
    page.wait_for_selector(".cmp-a canvas", state="visible")  # sized once laid out
    page.wait_for_selector(".cmp-b canvas", state="visible")
    a = small["intensity"].astype(np.float32)
    b = large["intensity"].astype(np.float32)
    np.testing.assert_array_equal(_values(page, f"{cmp}.a"), a.ravel())
    np.testing.assert_array_equal(_values(page, f"{cmp}.b"), b.ravel())

    limits_a = page.evaluate(f"() => {cmp}.a.limits")
    limits_b = page.evaluate(f"() => {cmp}.b.limits")
    assert limits_a == limits_b
    pooled = np.sort(np.concatenate([a.ravel(), b.ravel()]))
    assert limits_a == pytest.approx([_percentile(pooled, 1), _percentile(pooled, 99)], rel=1e-12)
    lut = _lut(page, "viridis")
    for name, values in (("a", a), ("b", b)):
        pixels = _offscreen(page, f"{cmp}.{name}")
        np.testing.assert_array_equal(pixels[..., :3], _coloured(values, *limits_a, lut))
    # the same value is the same colour on both sides
    shown = page.locator(".cmp-bar").inner_text()
    assert shown.strip() != ""

    # a linked cursor: over A's pixel (row 10, column 20), B marks the same pixel
    page.locator(".cmp-views").scroll_into_view_if_needed()
    point = page.evaluate(
        f"""() => {{ const v = {cmp}.a; const r = v.canvas.getBoundingClientRect();
                    const s = v.toScreen(20, 10); return [r.left + s.x, r.top + s.y]; }}"""
    )
    page.mouse.move(*point)
    assert page.evaluate(f"() => {cmp}.b.cursor") == {"x": 20, "y": 10}
    readout = page.inner_text(".cmp-readout")
    assert readout.startswith("y 10, x 20") and "A: " in readout and "B: " in readout
    if page.screen == "1280x720":
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".cmp").screenshot(path=str(ARTIFACTS / "compare-side-by-side.png"))

    page.check("input[name=cmp-mode][value=diff]")
    page.wait_for_function(f"() => {cmp}.diff.image !== null")
    page.wait_for_selector(".cmp-diff canvas", state="visible")
    assert page.is_hidden(".cmp-a")
    diff = a - b
    np.testing.assert_array_equal(_values(page, f"{cmp}.diff"), diff.ravel())
    lo, hi = page.evaluate(f"() => {cmp}.diff.limits")
    m = _percentile(np.sort(np.abs(diff).ravel()), 99)
    assert (lo, hi) == pytest.approx((-m, m), rel=1e-12)
    pixels = _offscreen(page, f"{cmp}.diff")
    np.testing.assert_array_equal(pixels[..., :3], _coloured(diff, lo, hi, _lut(page, "coolwarm")))
    if page.screen == "1280x720":
        page.locator(".cmp").screenshot(path=str(ARTIFACTS / "compare-difference.png"))


def test_a_drag_folds_into_the_job_that_ended_it(
    page: Any, portal: Portal, earlier: dict[str, Any]
) -> None:
    _open(page, portal, earlier, newest=False)
    # Two runs in a row, the second clicked while the first one's submission is on its way:
    # the second names the first as the job it replaces. The first is superseded only if it
    # had not finished by then (a finished job stands as a result of its own), which a job of
    # a few tens of milliseconds sometimes manages: a few tries.
    for _ in range(5):
        # a touched file is a miss of the result cache: both runs compute (identical runs are
        # otherwise answered at once from the finished one, docs/cache.md)
        os.utime(portal.data / "demo" / "demo.json")
        last = page.evaluate(
            """async () => {
                const s = window.__analysisPage.state, run = document.getElementById('run');
                const before = s.job.id;
                run.click();
                await new Promise((r) => setTimeout(r, 0)); // the first POST is on its way
                run.click();
                const done = () => s.job.id > before + 1 && !s.job.stale && s.job.finalShown;
                while (!done()) await new Promise((r) => setTimeout(r, 20));
                return s.job.id;
            }"""
        )
        replaced = portal.api("alice", f"/api/jobs/?dataset={earlier['dataset']}&superseded=true")
        folded = [j for j in replaced["jobs"] if j["superseded_by"] == last]
        if folded:
            break
        first = portal.api("alice", f"/api/jobs/{last - 1}/")
        assert first["status"] == "finished" and first["superseded_by"] is None
    assert len(folded) == 1 and folded[0]["status"] == "cancelled"
    # the strip lists the new result (and only results: not the job it replaced)
    page.wait_for_function(
        """(id) => { const img = document.querySelector(`.hs-item[data-job="${id}"] img`);
                     return img && [...document.images].every((i) => i.complete); }""",
        arg=last,
    )
    assert page.locator(f'.hs-item[data-job="{folded[0]["id"]}"]').count() == 0
    page.goto(f"{portal.base}/jobs/?dataset={earlier['dataset']}")
    row = page.locator("table.jobs tbody > tr", has=page.locator(f'a[href="/jobs/{last}/"]'))
    assert "+1 superseded" in row.first.inner_text()
    assert (
        page.locator(f'table.jobs tbody > tr > td > a[href="/jobs/{folded[0]["id"]}/"]').count()
        == 0
    )
    row.first.locator("details.superseded summary").click()
    assert row.first.locator(f'details a[href="/jobs/{folded[0]["id"]}/"]').is_visible()
    if page.screen == "1280x720":
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("table.jobs").screenshot(path=str(ARTIFACTS / "job-list-superseded.png"))
