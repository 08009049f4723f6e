"""The analysis page's modes and panes at the two common screen sizes (issue 21).

Modes end (Draw ROI draws one shape; a click on the scan always picks a frame), the panes say
what they show and nothing stale stays (a job without a scan image clears the scan pane; the
result selector sits on the pane it changes), and a picked frame is counted as one frame.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import FollowRecorder, Portal
from tests.browser.test_analysis_page import _drag, _on_screen, _wait_finished

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENS = {"1280x720": (1280, 720), "1920x1080": (1920, 1080)}


def register_demo(portal: Portal, name: str) -> int:
    """The demo registered again by alice as ``name``: a module's jobs are its own history."""
    path = str(portal.data / "demo" / "demo.json")
    return int(portal.api("alice", "/api/datasets/", {"name": name, "path": path})["id"])


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    return register_demo(portal, "demo (modes)")


@pytest.fixture(params=list(SCREENS))
def page(request: Any, browser: Any, portal: Portal) -> Iterator[Any]:
    width, height = SCREENS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.problems = []  # console errors and failed requests: none may happen
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("requestfailed", lambda r: _failed(page, r))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status}: {r.url}"))
    portal.login(page, "alice")
    yield page
    assert page.problems == []
    context.close()


def _failed(page: Any, request: Any) -> None:
    # a load the page itself stopped (it navigated on, or replaced an image) is no failure
    if request.failure != "net::ERR_ABORTED":
        page.problems.append(f"failed: {request.url} ({request.failure})")


def _open(page: Any, portal: Portal, dataset_id: int, mode: str = "virtual:ring") -> int:
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    page.wait_for_function("() => window.__analysisPage && window.__analysisPage.state.job")
    if page.input_value("#analysis-select") != mode:
        first = page.evaluate("() => window.__analysisPage.state.job.id")
        page.select_option("#analysis-select", mode)
        return _wait_finished(page, after_job=first)
    return _wait_finished(page)


def _wait_whole_scan(page: Any) -> int:
    """Wait for a finished job over the whole scan (no ROI); its id."""
    page.wait_for_function(
        "() => { const j = window.__analysisPage.state.job; return !j.roi && j.finalShown; }"
    )
    return page.evaluate("() => window.__analysisPage.state.job.id")


def _roi(page: Any) -> Any:
    return page.evaluate("() => window.__analysisPage.roiTool.roi()")


def _readout_at(page: Any, x: int, y: int) -> str:
    page.mouse.move(*_on_screen(page, "scanView", x, y))
    return page.inner_text("#scan-view .imageview-readout")


def test_draw_roi_ends_after_one_shape_and_a_click_then_picks_a_frame(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    first = _open(page, portal, dataset_id)
    page.click("#roi-draw")
    assert page.get_attribute("#roi-draw", "aria-pressed") == "true"
    _drag(page, _on_screen(page, "scanView", 10, 12), _on_screen(page, "scanView", 30, 40))
    assert page.get_attribute("#roi-draw", "aria-pressed") == "false"  # the mode ended
    roi = _roi(page)
    assert roi["shape"] == "rect" and (roi["x"], roi["y"]) == (10, 12)
    assert abs(roi["width"] - 21) <= 1 and abs(roi["height"] - 29) <= 1
    with_roi = _wait_finished(page, after_job=first)
    assert page.evaluate("() => window.__analysisPage.state.job.roi") == roi

    # a click, inside or outside the ROI, picks that frame and leaves the ROI alone
    page.mouse.click(*_on_screen(page, "scanView", 50, 5))
    page.wait_for_function(
        "() => document.querySelector('#detector-source').textContent"
        " === 'frame at scan row 5, column 50'"
    )
    assert _roi(page) == roi
    # the read-out names what NaN stands for in a result limited to an ROI
    assert _readout_at(page, 50, 5) == "y 5, x 50: outside ROI"
    assert "NaN" not in _readout_at(page, 20, 20)
    assert page.evaluate("() => window.__analysisPage.state.job.id") == with_roi  # no new job

    # shift + drag draws a disk without the button; a shift-click still only picks
    page.select_option("#roi-kind", "disk")
    page.keyboard.down("Shift")
    _drag(page, _on_screen(page, "scanView", 32, 32), _on_screen(page, "scanView", 40, 32))
    page.mouse.click(*_on_screen(page, "scanView", 3, 4))
    page.keyboard.up("Shift")
    disk = _roi(page)
    assert disk["shape"] == "disk" and (disk["cx"], disk["cy"]) == (32, 32)
    assert abs(disk["r"] - 8) <= 1
    page.wait_for_function(
        "() => document.querySelector('#detector-source').textContent"
        " === 'frame at scan row 4, column 3'"
    )
    # the arrow keys step the picked position, as the hint says
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('#detector-source').textContent"
        " === 'frame at scan row 4, column 4'"
    )
    hint = page.inner_text("#scan-pane .hint")
    assert "arrow keys" in hint and "Esc" in hint
    page.click("#roi-draw")
    page.locator("#scan-view canvas").press("Escape")
    assert page.get_attribute("#roi-draw", "aria-pressed") == "false"
    page.click("#roi-clear")
    _wait_whole_scan(page)


def test_a_job_without_a_scan_image_clears_the_scan_pane(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    ring = _open(page, portal, dataset_id)
    assert page.evaluate("() => window.__analysisPage.scanView.image !== null")
    assert page.inner_text("#scan-source") == f"intensity of job {ring}"
    page.select_option("#analysis-select", "sum")
    summed = _wait_finished(page, after_job=ring)
    # the ring's image is gone; the pane says where the result is
    assert page.evaluate("() => window.__analysisPage.scanView.image") is None
    placeholder = page.inner_text("#scan-view .imageview-placeholder")
    assert placeholder.startswith(f"Job {summed} (")
    assert placeholder.endswith(
        "has no scan image: its result is a detector image, shown on the left."
    )
    # sum / mean / max change the detector image: the selector is on the detector pane
    assert page.locator("#detector-pane #result-select").count() == 1
    assert page.inner_text("#detector-source") == f"mean of job {summed}"
    page.select_option("#result-select", "max")
    page.wait_for_function(
        "(id) => document.querySelector('#detector-source').textContent === `max of job ${id}`",
        arg=summed,
    )

    # a picked frame is one frame, whatever its partition held
    page.select_option("#analysis-select", "pick")
    picked = _wait_finished(page, after_job=summed)
    params = page.evaluate("() => window.__analysisPage.state.job.params")
    assert page.inner_text("#progress-text") == (
        f"1 frame (scan row {params['y']}, column {params['x']}) read"
    )
    assert page.evaluate("() => window.__analysisPage.scanView.image") is None
    # back to a scan result: the selector goes back to the scan pane
    page.select_option("#analysis-select", "com")
    _wait_finished(page, after_job=picked)
    assert page.locator("#scan-pane #result-select").count() == 1
    assert page.evaluate("() => window.__analysisPage.scanView.image !== null")


def test_pages_have_an_icon_and_no_console_errors(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    job = portal.api(
        "alice", "/api/jobs/", {"dataset": dataset_id, "analysis": "sum", "params": {}}
    )
    pages = ["/", "/datasets/", "/jobs/", "/tokens/", "/datasets/register/"]
    pages += [f"/datasets/{dataset_id}/", f"/jobs/{job['id']}/"]
    for path in pages:
        page.goto(portal.base + path)
        page.wait_for_load_state("networkidle")
    icon = page.get_attribute("link[rel=icon]", "href")
    assert page.request.get(portal.base + icon).status == 200
    assert page.request.get(portal.base + "/favicon.ico").status == 200  # redirected


def _box(page: Any, selector: str) -> dict[str, float]:
    return page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                      return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }""",
        selector,
    )


@pytest.mark.parametrize(
    ("width", "height"), [(1280, 720), (1920, 1080), (1024, 768)], ids=["hd", "full-hd", "tablet"]
)
def test_run_progress_and_parameters_are_in_view_without_scrolling(
    browser: Any, portal: Portal, dataset_id: int, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    portal.login(page, "alice")
    _open(page, portal, dataset_id)
    assert page.evaluate("() => [scrollX, scrollY]") == [0, 0]
    in_view = ("#run", "#analysis-select", ".progress", "#progress-text", "#params", "#roi-draw")
    for selector in in_view:
        box = _box(page, selector)
        assert box["left"] >= 0 and box["right"] <= width, selector
        assert box["top"] >= 0 and box["bottom"] <= height, selector
    # the images take the space there is: both panes side by side, each at least 40 % wide
    detector, scan = _box(page, "#detector-view"), _box(page, "#scan-view")
    assert detector["top"] == scan["top"] and detector["right"] < scan["left"]
    for box in (detector, scan):
        assert box["right"] - box["left"] > 0.4 * width
        assert box["bottom"] - box["top"] > 0.45 * height
    context.close()


def test_nothing_overflows_sideways_at_phone_width(
    browser: Any, portal: Portal, dataset_id: int
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    portal.login(page, "alice")
    _open(page, portal, dataset_id)
    for path in (f"/datasets/{dataset_id}/analyze/", "/", f"/datasets/{dataset_id}/"):
        page.goto(portal.base + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, path
    context.close()


def test_the_page_submits_again_by_itself_once_the_server_is_back(
    browser: Any, portal: Portal, dataset_id: int
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    portal.login(page, "alice")
    feed = FollowRecorder(page)  # before the page opens its socket
    first = _open(page, portal, dataset_id)
    refused: list[str] = []

    def server_away(route: Any) -> None:  # the first two submissions find no server
        if route.request.method == "POST" and len(refused) < 2:
            refused.append(route.request.url)
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route("**/api/jobs/", server_away)
    page.click("#run")
    page.wait_for_function(
        "() => document.querySelector('#message').textContent"
        " === 'The server cannot be reached; trying again in 1 s.'"
    )
    assert page.get_attribute("#job-state", "data-state") == "waiting"
    second = _wait_finished(page, after_job=first)  # no click: the page tried again
    assert len(refused) == 2 and page.inner_text("#message") == ""

    # in the embedded default a restart ends the job: the page does not claim it runs on
    feed.drop_next = True
    page.click("#run")
    page.wait_for_function(
        "() => document.querySelector('#message').textContent.includes('Lost the live connection')"
    )
    message = page.inner_text("#message")
    assert "keeps running" not in message
    assert "the job stopped with it (here jobs run inside the portal's own process)" in message
    _wait_finished(page, after_job=second)
    context.close()


def test_copy_as_python_runs_with_numpy_and_the_standard_library(
    page: Any, portal: Portal, dataset_id: int, tmp_path: Path
) -> None:
    job = _open(page, portal, dataset_id, mode="virtual:disk")
    if _roi(page):  # the page came back with the ROI of an earlier job
        page.click("#roi-clear")
        job = _wait_whole_scan(page)
    params = page.evaluate("() => window.__analysisPage.state.job.params")
    page.click("#python summary")
    assert "paste a token" in page.inner_text("#python-code")
    page.click("#python-token")  # one click: a token of alice's goes into the script
    page.wait_for_function(
        "() => !document.getElementById('python-code').textContent.includes('paste a token')"
    )
    assert "revoke it under API tokens" in page.inner_text("#python-token-info")
    snippet = page.inner_text("#python-code")
    tree = ast.parse(snippet)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"io", "json", "time", "urllib.error", "urllib.request", "numpy"}
    script = tmp_path / "job.py"
    script.write_text(snippet)
    out = tmp_path / "intensity.npy"
    # isolated mode: no site customisation, no current directory on the path
    run = (
        "import runpy, sys, numpy as np; "
        "np.save(sys.argv[2], runpy.run_path(sys.argv[1])['results']['intensity'])"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", run, str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "intensity (64, 64) float32" in done.stdout
    raw = np.memmap(portal.data / "demo" / "demo.raw", dtype="<u2", mode="r")
    frames = raw.reshape(64 * 64, 128 * 128).astype(np.float64)
    yy, xx = np.mgrid[:128, :128]
    disk = ((yy - params["cy"]) ** 2 + (xx - params["cx"]) ** 2 <= params["r"] ** 2).ravel()
    np.testing.assert_allclose(np.load(out), (frames @ disk).reshape(64, 64), rtol=1e-5)
    # the script ran a job of its own, with the same parameters
    newest = portal.api("alice", f"/api/jobs/?dataset={dataset_id}")
    jobs = newest["jobs"] if isinstance(newest, dict) else newest
    assert max(j["id"] for j in jobs) > job
    names = [t["name"] for t in portal.api("alice", "/api/tokens/")["tokens"]]
    assert "script from the analysis page of demo (modes)" in names


def test_a_failed_job_clears_its_image_and_says_why_in_plain_words(
    page: Any, portal: Portal
) -> None:
    folder = portal.data / f"gone-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    shutil.copy(portal.data / "demo" / "demo.json", folder)
    os.link(portal.data / "demo" / "demo.raw", folder / "demo.raw")  # no copy of 128 MiB
    path = str(folder / "demo.json")
    dataset = portal.api("alice", "/api/datasets/", {"name": folder.name, "path": path})
    first = _open(page, portal, dataset["id"])
    page.wait_for_function("() => window.__analysisPage.state.mean !== null")
    assert page.evaluate("() => window.__analysisPage.scanView.image !== null")
    (folder / "demo.raw").unlink()  # the file is gone
    page.click("#run")
    page.wait_for_function(
        "(id) => { const j = window.__analysisPage.state.job; return j.id !== id && j.status === 'failed'; }",
        arg=first,
    )
    failed = page.evaluate("() => window.__analysisPage.state.job.id")
    assert page.evaluate("() => window.__analysisPage.scanView.image") is None
    assert page.inner_text("#scan-source") == f"job {failed} failed"
    assert page.inner_text("#scan-view .imageview-placeholder").startswith(
        f"Job {failed} failed, so there is no image"
    )
    message = page.inner_text("#message")
    assert f"{folder}/demo.raw: cannot read the data file: No such file or directory" in message
    assert "internal error" not in message and "Error:" not in message
