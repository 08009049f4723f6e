"""1-d results as plots and uploaded masks on the detector, at the two common screen sizes.

The radial profile at the picked position and fem's V(k) are drawn with axes (ticks and
titles with units) and a cursor, and the plotted numbers are the downloaded result's; each
uploaded mask is drawn on the detector with a selector, and the scan shows that mask's image.
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import Portal
from tests.browser.test_analysis_page import _canvas_pixels, _on_screen, _wait_finished
from tests.browser.test_workbench_modes import SCREENS, register_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    return register_demo(portal, "demo (plots)")


@pytest.fixture(params=list(SCREENS))
def page(request: Any, browser: Any, portal: Portal, dataset_id: int) -> Iterator[Any]:
    width, height = SCREENS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    portal.login(page, "alice")
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    page.wait_for_function("() => window.__analysisPage && window.__analysisPage.state.job")
    yield page
    assert errors == []
    context.close()


def _select(page: Any, mode: str) -> int:
    """Choose ``mode``; its finished job's id. A page that opened on a job of this mode with
    these parameters (the dataset's last, restored) shows it without starting it again."""
    before = page.evaluate("() => window.__analysisPage.state.job.id")
    if page.input_value("#analysis-select") == mode:
        return _wait_finished(page)
    page.select_option("#analysis-select", mode)
    return _wait_finished(page, after_job=before)


def _result(portal: Portal, job: int, name: str) -> np.ndarray:
    request = urllib.request.Request(  # noqa: S310 (the test server's http address)
        f"{portal.base}/api/jobs/{job}/results/{name}.npy",
        headers={"Authorization": f"Token {portal.tokens['alice']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return np.load(io.BytesIO(response.read()))


def _plot(page: Any) -> dict[str, Any]:
    """What the plot shows: its data, tick labels, axis titles, and whether it has a line."""
    return page.evaluate(
        """() => {
            const root = document.getElementById('result-plot');
            const plot = window.__analysisPage.results.plot;
            const texts = (sel) => Array.from(root.querySelectorAll(sel)).map((t) => t.textContent);
            return {
                hidden: root.hidden, x: plot.data && plot.data.x, y: plot.data && Array.from(plot.data.y),
                xTicks: texts('.x-tick'), yTicks: texts('.y-tick'),
                xLabel: texts('.x-label')[0], yLabel: texts('.y-label')[0],
                line: root.querySelector('.plot-line').getAttribute('d'),
                box: root.getBoundingClientRect().toJSON(),
            };
        }"""
    )


def test_the_radial_profile_is_plotted_at_the_picked_position(page: Any, portal: Portal) -> None:
    job = _select(page, "radial")
    params = page.evaluate("() => window.__analysisPage.state.job.params")
    profile = _result(portal, job, "profile")
    plot = _plot(page)
    assert not plot["hidden"]
    assert plot["xLabel"] == "radius (px)" and plot["yLabel"] == "profile (data units)"
    assert len(plot["xTicks"]) >= 3 and len(plot["yTicks"]) >= 2
    assert plot["line"].startswith("M") and plot["line"].count("L") == params["bins"] - 1
    width = (params["ro"] - params.get("ri", 0)) / params["bins"]
    np.testing.assert_allclose(plot["x"], params.get("ri", 0) + (np.arange(16) + 0.5) * width)
    np.testing.assert_allclose(plot["y"], profile[32, 32], rtol=1e-6)  # the scan's centre
    # the default image is one bin, not a silent sum of all
    assert page.inner_text("#scan-source") == f"profile of job {job}, channel 0 of 16"

    page.mouse.click(*_on_screen(page, "scanView", 20, 10))  # column 20, row 10
    page.wait_for_function(
        "() => document.querySelector('.plot-readout').textContent.endsWith('at scan row 10, column 20')"
    )
    np.testing.assert_allclose(_plot(page)["y"], profile[10, 20], rtol=1e-6)
    # the cursor reads out the point under the pointer; a click shows that bin's image
    page.locator("#result-plot").scroll_into_view_if_needed()
    box = _plot(page)["box"]
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    readout = page.inner_text(".plot-readout")
    assert readout.startswith("radius (px) ") and "profile (data units)" in readout
    page.mouse.click(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "(id) => document.querySelector('#scan-source').textContent"
        " === `profile of job ${id}, channel 15 of 16`",
        arg=job,
    )
    shown = page.evaluate("() => Array.from(window.__analysisPage.scanView.image.values)")
    np.testing.assert_allclose(shown, profile[..., 15].ravel(), rtol=1e-6)


def test_a_1d_result_takes_the_scan_pane_as_a_plot(page: Any, portal: Portal) -> None:
    job = _select(page, "fem")
    page.select_option("#result-select", "variance")
    page.wait_for_function("() => !document.getElementById('result-plot').hidden")
    plot = _plot(page)
    assert page.is_hidden("#scan-view")  # no stale image beside the plot
    assert page.inner_text("#scan-source") == f"variance of job {job}, plotted"
    np.testing.assert_allclose(plot["y"], _result(portal, job, "variance"), rtol=1e-6)
    np.testing.assert_allclose(plot["x"], _result(portal, job, "radius"), rtol=1e-9)
    assert plot["xLabel"] == "radius (px)" and plot["yLabel"] == "variance"
    assert plot["box"]["height"] > 200 and len(plot["xTicks"]) >= 3
    page.select_option("#result-select", "std")
    page.wait_for_function("() => document.getElementById('result-plot').hidden")
    assert page.is_visible("#scan-view")


def test_uploaded_masks_are_drawn_and_chosen_one_at_a_time(
    page: Any, portal: Portal, tmp_path: Path
) -> None:
    yy, xx = np.mgrid[:128, :128]
    d = np.hypot(yy - 63.5, xx - 63.5)
    stack = np.stack([d < 12, (d > 20) & (d < 50), xx < 20]).astype(np.float32)
    path = tmp_path / "mask_stack_with_a_rather_long_name_for_its_card.npy"
    np.save(path, stack)
    before = page.evaluate("() => window.__analysisPage.state.job.id")
    page.select_option("#analysis-select", "masks")
    page.set_input_files("#mask-file", str(path))
    job = _wait_finished(page, after_job=before)
    assert page.inner_text("#mask-info") == f"{path.name}: 3 × 128 × 128"
    card = page.locator("#detector-pane").bounding_box()
    info = page.locator("#mask-info").bounding_box()
    assert info["x"] + info["width"] <= card["x"] + card["width"]  # the name wraps in its card
    options = page.eval_on_selector_all("#mask-select option", "os => os.map(o => o.textContent)")
    assert options == ["mask 1 of 3", "mask 2 of 3", "mask 3 of 3"]
    masks = _result(portal, job, "masks")
    assert page.inner_text("#scan-source") == f"masks of job {job}, channel 0 of 3"
    shown = page.evaluate("() => Array.from(window.__analysisPage.scanView.image.values)")
    np.testing.assert_allclose(shown, masks[..., 0].ravel(), rtol=1e-6)
    first = _canvas_pixels(page, "#detector-view")
    page.select_option("#mask-select", "2")
    page.wait_for_function(
        "(id) => document.querySelector('#scan-source').textContent"
        " === `masks of job ${id}, channel 2 of 3`",
        arg=job,
    )
    third = _canvas_pixels(page, "#detector-view")
    assert np.abs(third.astype(int) - first.astype(int)).mean() > 1  # another mask is drawn
    shown = page.evaluate("() => Array.from(window.__analysisPage.scanView.image.values)")
    np.testing.assert_allclose(shown, masks[..., 2].ravel(), rtol=1e-6)
