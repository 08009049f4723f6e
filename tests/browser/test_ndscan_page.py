"""A 5-d file (a scan of three axes) on the analysis page in a real Chromium: the scan pane
shows one 2-d slice with a slider over the leading axes, live (stacked) previews are cut to
the slice, and a picked frame comes from the chosen slice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
import pytest

from tests.browser.conftest import Portal
from tests.core.analyses.numpy_reference import ring_mask

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAV, SIG = (2, 3, 5), (24, 20)
JOB_MS = 60_000


@pytest.fixture(scope="module")
def five(portal: Portal) -> tuple[int, np.ndarray]:
    data = np.random.default_rng(265).integers(0, 4000, size=(*NAV, *SIG), dtype=np.uint16)
    path = portal.data / "ndscan" / "five.h5"
    path.parent.mkdir(exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data)
    created = portal.api("alice", "/api/datasets/", {"name": "five", "path": str(path)})
    assert created["nav_shape"] == list(NAV)
    return int(created["id"]), data


@pytest.fixture
def alice_page(browser: Any, portal: Portal) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    portal.login(page, "alice")
    yield page
    context.close()


def shown(page: Any) -> tuple[list[int], np.ndarray]:
    image = page.evaluate(
        """() => { const im = window.__analysisPage.scanView.image;
                   return [im.height, im.width, Array.from(im.values)]; }"""
    )
    return image[:2], np.array(image[2], dtype=np.float64)


def test_a_three_axis_scan_shows_one_slice_with_a_slider(
    alice_page: Any, portal: Portal, five: tuple[int, np.ndarray]
) -> None:
    page = alice_page
    dataset_id, data = five
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    page.wait_for_function(
        "() => { const s = window.__analysisPage.state; return s.job && s.job.finalShown; }",
        timeout=JOB_MS,
    )
    job = page.evaluate("() => window.__analysisPage.state.job")
    assert job["analysis"] == "virtual" and job["params"]["shape"] == "ring"
    q = job["params"]
    want = np.einsum(
        "...yx,yx->...", data.astype(np.float64), ring_mask(q["cy"], q["cx"], q["ri"], q["ro"], SIG)
    )
    assert page.is_visible("#slice-controls")
    assert page.get_attribute("#scan-slice", "max") == "1"
    size, values = shown(page)
    assert size == [3, 5]
    np.testing.assert_allclose(values, want[0].ravel(), rtol=1e-5)
    assert "scan slice 1 of 2" in page.text_content("#scan-source")

    page.fill("#scan-slice", "1")  # a range input: fill sets the value and fires input
    page.wait_for_function(
        "() => document.getElementById('scan-source').textContent.includes('slice 2 of 2')"
    )
    size, values = shown(page)
    assert size == [3, 5]
    np.testing.assert_allclose(values, want[1].ravel(), rtol=1e-5)
    assert "[1, :, :]" in page.text_content("#slice-label")

    # a live preview arrives with the slices one under the other: the page cuts out slice 2
    stacked = np.arange(30, dtype=np.float32)
    page.evaluate(
        """(values) => { const p = window.__analysisPage;
             p.results.show(p.state.job, 'intensity', {shape: [6, 5], values: Float32Array.from(values)}); }""",
        stacked.tolist(),
    )
    size, values = shown(page)
    assert size == [3, 5]
    np.testing.assert_array_equal(values, stacked[15:])

    # a click on the scan image picks the frame at (y, x) of the chosen slice
    page.evaluate("() => window.__analysisPage.results.reshow()")
    box = page.locator("#scan-view canvas.imageview-canvas").bounding_box()
    page.evaluate("() => { const p = window.__analysisPage; p.state.picked = null; }")
    page.locator("#scan-view canvas.imageview-canvas").click(
        position={"x": box["width"] * (3.5 / 5), "y": box["height"] * (1.5 / 3)}
    )
    page.wait_for_function(
        "() => document.getElementById('detector-source').textContent.startsWith('frame at scan')"
        " && !document.getElementById('detector-source').textContent.includes('loading')",
        timeout=JOB_MS,
    )
    picked = page.evaluate("() => window.__analysisPage.state.picked")
    assert picked["slice"] == 1
    frame = page.evaluate(
        """() => { const im = window.__analysisPage.detectorView.image;
                   return [im.height, im.width, Array.from(im.values)]; }"""
    )
    assert frame[:2] == list(SIG)
    np.testing.assert_array_equal(
        np.array(frame[2]), data[1, picked["y"], picked["x"]].ravel().astype(np.float64)
    )
