"""stddev and fem on the analysis page: picked from the menu, run from the generated form, shown
on their panes (stddev's detector images, fem's scan map and its 1-d V(k) as a plot), downloads
equal to numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import Portal
from tests.browser.test_analysis_page import _wait_finished

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAV, SIG = (64, 64), (128, 128)  # the demo dataset


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    body = {"name": "demo", "path": str(portal.data / "demo" / "demo.json")}
    return int(portal.api("alice", "/api/datasets/", body)["id"])


def _frames(portal: Portal) -> np.ndarray:
    raw = np.memmap(portal.data / "demo" / "demo.raw", dtype="<u2", mode="r")
    return raw.reshape(NAV[0] * NAV[1], SIG[0] * SIG[1])


def _download(page: Any, name: str) -> np.ndarray:
    with page.expect_download() as info:
        page.click(f"#downloads a[data-result='{name}'][data-format='npy']")
    return np.load(info.value.path())


def _run(page: Any, portal: Portal, dataset_id: int, analysis: str) -> int:
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    first = _wait_finished(page)
    page.select_option("#analysis-select", analysis)
    return _wait_finished(page, after_job=first)


def test_stddev_shows_the_pixels_statistics_on_the_detector(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    job = _run(page, portal, dataset_id, "stddev")
    assert page.inner_text("#detector-source") == f"std of job {job}"
    frames = _frames(portal)
    total, squares = np.zeros(frames.shape[1]), np.zeros(frames.shape[1])
    for lo in range(0, frames.shape[0], 512):  # small integers: float64 sums are exact
        block = frames[lo : lo + 512].astype(np.float64)
        total += block.sum(axis=0)
        squares += (block**2).sum(axis=0)
    mean = total / frames.shape[0]
    var = squares / frames.shape[0] - mean**2
    np.testing.assert_allclose(_download(page, "var"), var.reshape(SIG), rtol=1e-9, atol=1e-9)
    page.select_option("#result-select", "mean")
    page.wait_for_function(
        "(id) => document.querySelector('#detector-source').textContent === `mean of job ${id}`",
        arg=job,
    )
    assert page.errors == []


def test_fem_shows_its_map_and_its_one_dimensional_profile(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    job = _run(page, portal, dataset_id, "fem")
    params = page.evaluate("() => window.__analysisPage.state.job.params")
    assert set(params) == {"cx", "cy", "ri", "ro", "bins"} and params["bins"] == 16
    assert page.inner_text("#scan-source") == f"std of job {job}"
    frames = _frames(portal)
    yy, xx = np.indices(SIG)
    d2 = ((yy - params["cy"]) ** 2 + (xx - params["cx"]) ** 2).ravel()
    ring = (d2 > params["ri"] ** 2) & (d2 <= params["ro"] ** 2)
    want = frames[:, ring].astype(np.float64).std(axis=1).reshape(NAV)
    np.testing.assert_allclose(_download(page, "std"), want, rtol=1e-9)
    assert _download(page, "variance").shape == (16,)

    page.select_option("#result-select", "variance")
    page.wait_for_function(
        "(id) => document.querySelector('#scan-source').textContent"
        " === `variance of job ${id}, plotted`",
        arg=job,
    )
    assert page.is_visible("#result-plot svg")  # V(k) is drawn as a line, not an image
    assert page.errors == []
