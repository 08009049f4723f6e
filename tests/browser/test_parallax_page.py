"""parallax on the analysis page: both modes in the menu with the disk control and the inputs
their declaration lists (the defocus mode's scan step and detector pixel filled in from the
calibration), the image building up from partial results while the scan is read, the final
image and downloads equal to the Core's on the same file."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import h5py
import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.io.raw import write_sidecar
from tests.browser.conftest import Portal
from tests.browser.test_analysis_page import _canvas_pixels, _wait_finished
from tests.browser.test_reduction_pages import _download

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCAN_NM, PIXEL_MRAD = 2.0, 0.25  # the calibration of demo.h5 (apps/datasets/demo.py)


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    body = {"name": "parallax", "path": str(portal.data / "demo" / "demo.h5")}
    return int(portal.api("alice", "/api/datasets/", body)["id"])


#: The demo scan again, as a libertem-raw sidecar of 16 partition files: the job merges 16
#: partitions, so the first ones' partial images come long before the last however fast the
#: machine (demo.h5 alone may be one or two partitions, which end the job with no partial).
PARTS = 16


@pytest.fixture(scope="module")
def parted_id(portal: Portal) -> int:
    with h5py.File(portal.data / "demo" / "demo.h5", "r") as f:
        frames = f["/entry/data/data"][()]
    flat = frames.reshape(-1, *frames.shape[2:])
    folder = portal.data / "parallax-parts"
    folder.mkdir()
    parts = []
    for i, (lo, hi) in enumerate(pairwise(np.linspace(0, len(flat), PARTS + 1).astype(int))):
        (folder / f"part-{i}.raw").write_bytes(flat[lo:hi].tobytes())
        parts.append({"path": f"part-{i}.raw", "start": int(lo), "stop": int(hi)})
    doc = {
        "dtype": frames.dtype.str,
        "nav_shape": list(frames.shape[:2]),
        "sig_shape": list(frames.shape[2:]),
        "partitions": parts,
    }
    write_sidecar(folder / "scan.json", doc)
    body = {"name": "parallax-parts", "path": str(folder / "scan.json")}
    return int(portal.api("alice", "/api/datasets/", body)["id"])


# Records every image the results pane shows: job, result, and the progress bar meanwhile.
SHOWN = """() => {
    window.__shown = [];
    const results = window.__analysisPage.results;
    const show = results.show.bind(results);
    results.show = (job, name, ...rest) => {
        const progress = Number(document.querySelector(".progress").getAttribute("aria-valuenow"));
        window.__shown.push({ job: job.id, name, progress });
        return show(job, name, ...rest);
    };
}"""


def _params(page: Any) -> list[str]:
    return page.eval_on_selector_all("#params input, #params select", "els => els.map(e => e.name)")


def test_parallax_builds_its_image_and_gives_the_cores_results(
    page: Any, portal: Portal, parted_id: int
) -> None:
    page.goto(f"{portal.base}/datasets/{parted_id}/analyze/")
    first = _wait_finished(page)
    page.evaluate(SHOWN)
    page.select_option("#analysis-select", "parallax:measured")
    assert _params(page) == ["cx", "cy", "r", "flip_y"]
    job = _wait_finished(page, after_job=first)
    state = page.evaluate("() => window.__analysisPage.state.job")
    assert state["analysis"] == "parallax"
    params = page.evaluate(f"async () => (await (await fetch('/api/jobs/{job}/')).json()).params")
    assert params["shifts"] == "measured"
    # the image built up: a partial image (over the job's websocket) was on screen while the
    # progress bar was short of its end, then the final one
    shown = [s for s in page.evaluate("() => window.__shown") if s["job"] == job]
    assert [s["name"] for s in shown] == ["image"] * len(shown)
    assert any(s["progress"] < 100 for s in shown[:-1]), shown
    assert page.inner_text("#scan-source").startswith("image of job")
    assert _canvas_pixels(page, "#scan-view").reshape(-1, 4)[:, :3].std() > 5

    ds = open_dataset(str(portal.data / "parallax-parts" / "scan.json"))
    analysis = make_analysis(
        "parallax", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    want = InlineExecutor().run(ds, analysis).results
    np.testing.assert_allclose(_download(page, "image"), want["image"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(_download(page, "defocus"), want["defocus"], rtol=1e-12)
    assert page.errors == []


def test_the_defocus_mode_takes_the_calibrated_step_and_pixel(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    first = _wait_finished(page)
    page.select_option("#analysis-select", "parallax:defocus")
    names = ["cx", "cy", "r", "defocus", "scan_step", "detector_pixel", "beam_energy"]
    assert _params(page) == [*names, "scan_rotation", "flip_y"]
    assert float(page.input_value("#params input[name=scan_step]")) == SCAN_NM
    assert float(page.input_value("#params input[name=detector_pixel]")) == PIXEL_MRAD
    page.fill("#params input[name=beam_energy]", "300")  # demo.h5 does not give it
    page.fill("#params input[name=defocus]", "4000")  # D = 4000 nm x 0.25 mrad / 2 nm = 0.5
    page.press("#params input[name=defocus]", "Enter")
    job = _wait_finished(page, after_job=first)
    params = page.evaluate(f"async () => (await (await fetch('/api/jobs/{job}/')).json()).params")
    assert (params["shifts"], params["defocus"], params["scan_step"]) == ("defocus", 4000, 2.0)
    assert _download(page, "defocus") == pytest.approx([0.5])
    shift_y = _download(page, "shift_y")
    centre = (round(params["cy"]), round(params["cx"]))
    assert shift_y[centre[0] + 4, centre[1]] == pytest.approx(0.5 * (centre[0] + 4 - params["cy"]))
    assert page.errors == []
