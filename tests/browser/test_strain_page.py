"""The strain analysis on the analysis page: the lattice control on the detector, dragged onto
the disks of a synthetic lattice scan, gives the strain map the Core computes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from tests.browser.conftest import ARTIFACTS, Portal
from tests.browser.test_analysis_page import _canvas_pixels, _drag, _on_screen, _wait_finished
from tests.core.analyses.bragg_frames import LARGE, write_strained_scan

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAV = (8, 10)


@pytest.fixture(scope="module")
def lattice_scan(portal: Portal) -> int:
    """A strained lattice scan of alice's (the known field of bragg_frames); its id."""
    path = portal.data / "lattice.npy"
    write_strained_scan(path, LARGE, NAV)
    created = portal.api("alice", "/api/datasets/", {"name": "lattice", "path": str(path)})
    return int(created["id"])


@pytest.fixture
def page(browser: Any, portal: Portal) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    portal.login(page, "alice")
    yield page
    context.close()


def _lattice(page: Any) -> dict[str, Any]:
    return page.evaluate("() => window.__analysisPage.editor.params()")


def test_the_lattice_dragged_onto_the_disks_maps_the_strain(
    page: Any, portal: Portal, lattice_scan: int
) -> None:
    dataset_id = lattice_scan
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    page.wait_for_function("() => window.__analysisPage.state.mean !== null", timeout=60_000)
    first = _wait_finished(page)  # the page's first job, before the lattice is placed
    page.select_option("#analysis-select", "strain:median")
    page.wait_for_function(
        "() => window.__analysisPage.editor.shape?.constructor.name === 'Lattice'"
    )
    assert "onto the zero-order disk" in page.inner_text("#mode-help")

    # the zero order onto the central disk, then the ends of a and b onto their disks
    (zy, zx), (ay, ax), (by, bx) = LARGE.zero, LARGE.a, LARGE.b
    start = _lattice(page)
    _drag(
        page,
        _on_screen(page, "detectorView", start["cx"], start["cy"]),
        _on_screen(page, "detectorView", zx, zy),
    )
    for name, (vy, vx) in (("a", (ay, ax)), ("b", (by, bx))):
        q = _lattice(page)
        grab = _on_screen(page, "detectorView", q["cx"] + q[f"{name}x"], q["cy"] + q[f"{name}y"])
        _drag(page, grab, _on_screen(page, "detectorView", q["cx"] + vx, q["cy"] + vy))
    q = _lattice(page)
    assert abs(q["cx"] - zx) < 0.6 and abs(q["ax"] - ax) < 0.6 and abs(q["by"] - by) < 0.6
    assert page.input_value("input[data-param=ax]") == str(q["ax"])  # the form follows

    # the job of the last drag (those of the drags before it may still be ending)
    page.wait_for_function(
        """([ax, by]) => {
            const job = window.__analysisPage.state.job;
            return job && job.params.ax === ax && job.params.by === by && job.finalShown;
        }""",
        arg=[q["ax"], q["by"]],
        timeout=60_000,
    )
    assert page.get_attribute("#job-state", "data-state") == "finished"
    job = page.evaluate("() => window.__analysisPage.state.job.id")
    assert job != first
    params = page.evaluate("() => window.__analysisPage.state.job.params")
    assert params["reference"] == "median" and params["cx"] == q["cx"]
    with page.expect_download() as info:
        page.click("#downloads a[data-result='exx'][data-format='npy']")
    got = np.load(info.value.path())

    ds = open_dataset(str(portal.data / "lattice.npy"))
    analysis = make_analysis(
        "strain", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    np.testing.assert_array_equal(got, InlineExecutor().run(ds, analysis).results["exx"])
    # against the median lattice the known field (0 to 0.01 along the scan's columns) is offset
    # by its median; its range is found
    assert abs((got[:, -1] - got[:, 0]).mean() - 0.01) < 1e-3
    shown = _canvas_pixels(page, "#scan-view").reshape(-1, 4)[:, :3]
    assert shown.std() > 10, f"job {job}: the strain map shows no contrast"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "strain-page.png"), full_page=True)
