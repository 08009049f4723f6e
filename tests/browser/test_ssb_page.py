"""SSB on the analysis page: the beam and pixel sizes typed once into the dataset's calibration
fill the form, the cross on the detector is the beam's centre, the phase image builds up from
partial results while the scan is read, and the final image and downloads equal the Core's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from tests.browser.conftest import Portal
from tests.browser.test_analysis_page import _canvas_pixels, _wait_finished
from tests.browser.test_parallax_page import SHOWN, _params
from tests.browser.test_reduction_pages import _download

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# demo.h5's disk has a radius of 14 px: 3.5 mrad at 0.25 mrad per pixel; a 0.1 nm step makes
# the scan's frequencies shift it by 1.2 px each (its own 2 nm would leave the trotters empty)
CALIBRATION = {
    "scan_step": 0.1,
    "scan_units": "nm",
    "detector_step": 0.25,
    "detector_units": "mrad",
    "beam_energy": 300,
    "convergence_angle": 3.5,
}


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    body = {"name": "ssb", "path": str(portal.data / "demo" / "demo.h5")}
    pk = int(portal.api("alice", "/api/datasets/", body)["id"])
    portal.api("alice", f"/api/datasets/{pk}/calibration/", CALIBRATION)
    return pk


def test_ssb_fills_the_beam_from_the_calibration_and_builds_its_phase_live(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    first = _wait_finished(page)
    page.evaluate(SHOWN)
    page.select_option("#analysis-select", "ssb")
    names = ["beam_energy", "convergence_angle", "detector_pixel", "scan_step", "cx", "cy"]
    assert _params(page) == [*names, "scan_rotation", "flip_y"]
    filled = {n: page.input_value(f"#params input[name={n}]") for n in names[:4]}
    assert {n: float(v) for n, v in filled.items()} == {
        "beam_energy": 300.0,
        "convergence_angle": 3.5,
        "detector_pixel": 0.25,
        "scan_step": pytest.approx(0.1),
    }
    # the beam's centre starts at the frame's centre, a cross to drag
    assert float(page.input_value("#params input[name=cx]")) == 63.5
    job = _wait_finished(page, after_job=first)
    params = page.evaluate(f"async () => (await (await fetch('/api/jobs/{job}/')).json()).params")
    assert params["beam_energy"] == 300 and params["convergence_angle"] == 3.5
    # the phase is what the page shows, partial images (if the job lasted long enough for the
    # reporter to send one: on a quiet machine the demo's SSB may end within its first
    # interval) and the final one
    shown = [s for s in page.evaluate("() => window.__shown") if s["job"] == job]
    assert shown and [s["name"] for s in shown] == ["phase"] * len(shown)
    assert shown[-1]["progress"] == 100
    assert page.inner_text("#scan-source").startswith("phase of job")
    assert _canvas_pixels(page, "#scan-view").reshape(-1, 4)[:, :3].std() > 5

    ds = open_dataset(str(portal.data / "demo" / "demo.h5"))
    analysis = make_analysis(
        "ssb", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    want = InlineExecutor().run(ds, analysis).results
    np.testing.assert_allclose(_download(page, "phase"), want["phase"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(_download(page, "amplitude"), want["amplitude"], rtol=1e-6)
    assert page.errors == []
