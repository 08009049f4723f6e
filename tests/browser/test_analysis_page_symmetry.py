"""Radial Fourier and clustering on the analysis page, in a real Chromium against a live portal:
picked from the menu, computed with the generated form's values, shown (complex coefficients as
magnitudes, one channel per ring and order; cluster means on the detector view), downloaded
equal to numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import Portal
from tests.browser.test_analysis_page import (  # noqa: F401 - fixtures of the analysis page
    _canvas_pixels,
    _open_analysis,
    _wait_finished,
    alice_page,
    dataset_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _frames(portal: Portal) -> np.ndarray:
    raw = np.memmap(portal.data / "demo" / "demo.raw", dtype="<u2", mode="r")
    return raw.reshape(64, 64, 128, 128)


def _download(page: Any, name: str) -> np.ndarray:
    with page.expect_download() as info:
        page.click(f"#downloads a[data-result='{name}'][data-format='npy']")
    return np.load(info.value.path())


def _run(page: Any, mode: str) -> dict[str, Any]:
    first = page.evaluate("() => window.__analysisPage.state.job.id")
    page.select_option("#analysis-select", mode)
    _wait_finished(page, after_job=first)
    job = page.evaluate("() => window.__analysisPage.state.job")
    assert job["analysis"] == mode
    return job


def test_radial_fourier_shows_each_order_and_downloads_the_coefficients(
    alice_page: Any,  # noqa: F811
    portal: Portal,
    dataset_id: int,  # noqa: F811
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    job = _run(alice_page, "radial_fourier")
    p = job["params"]
    assert (p["bins"], p["max_order"]) == (1, 12)  # the declared defaults, from the form
    alice_page.select_option("#result-select", "coefficients")
    alice_page.fill("#channel-index", "6")
    alice_page.dispatch_event("#channel-index", "input")
    alice_page.wait_for_function(
        "() => document.querySelector('#channel-label').textContent === '6 of 13'"
    )
    pixels = _canvas_pixels(alice_page, "#scan-view").reshape(-1, 4)[:, :3]
    assert pixels.std() > 1  # a map, not a blank
    got = _download(alice_page, "coefficients")
    assert got.shape == (64, 64, 1, 13) and got.dtype == np.complex64
    frames = _frames(portal)[0, :4].astype(np.float64)  # four frames against numpy
    yy, xx = np.indices((128, 128), dtype=np.float64)
    d = np.hypot(yy - p["cy"], xx - p["cx"])
    ring = np.clip(p["ro"] / 2 + 0.5 - np.abs(d - p["ro"] / 2), 0, 1)
    py, px = round(p["cy"]), round(p["cx"])
    ring[py, px] = 1  # ri = 0: the pixel nearest the centre weighs 1 - ri, as in LiberTEM
    waves = np.exp(1j * np.arange(13)[:, None, None] * np.arctan2(yy - p["cy"], xx - p["cx"]))
    want = np.einsum("fyx,yx,nyx->fn", frames, ring, waves)
    assert np.abs(got[0, :4, 0] - want).max() <= 1e-5 * np.abs(want).max()
    assert not [m for m in alice_page.console_messages if "rror" in m]


def test_cluster_shows_labels_and_the_mean_frames_on_the_detector(
    alice_page: Any,  # noqa: F811
    portal: Portal,
    dataset_id: int,  # noqa: F811
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    job = _run(alice_page, "cluster")
    k = job["params"]["clusters"]
    labels = _download(alice_page, "labels")
    assert labels.shape == (64, 64) and set(np.unique(labels)) <= set(range(k))
    alice_page.select_option("#result-select", "means")
    alice_page.wait_for_function(
        "() => document.querySelector('#detector-source').textContent.startsWith('means of job')"
    )
    means = _download(alice_page, "means")
    assert means.shape == (128, 128, k)
    frames = _frames(portal).reshape(-1, 128, 128)
    for j in np.unique(labels).astype(int):
        want = frames[labels.ravel() == j].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(means[..., j], want, rtol=1e-12)
    assert not [m for m in alice_page.console_messages if "rror" in m]
