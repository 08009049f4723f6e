"""``com``'s phases and corrections on the analysis page in a real Chromium: the iCoM image
builds up from partial images while the job runs, and one click adopts the guessed scan
rotation, flip and centre (the form takes them, the job runs again with them)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from apps.core.io.raw import write_sidecar
from tests.browser.conftest import Portal
from tests.core.analyses.com_synthetic import SIG, phase_and_gradient, spot_frames, turn

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_MS = 60_000


#: A scan of atom-like phase bumps (tiled), turned by 30° on the detector: 96 × 128 uint16
#: frames of 32 × 32 (24 MiB) in a libertem-raw sidecar of 16 partition files, so the job
#: merges 16 partitions and its first ones' partial images are sent long before the last
#: (one partition, as two worker slots would give a single file, ends the job with no partial).
SCAN = (96, 128)
PARTS = 16


@pytest.fixture(scope="module")
def scan_id(portal: Portal) -> int:
    _, gradient = phase_and_gradient((24, 32))
    field = np.tile(gradient, (SCAN[0] // 24, SCAN[1] // 32, 1))
    frames = np.rint(spot_frames(turn(field, flip_y=False, degrees=30.0))).astype("<u2")
    flat = frames.reshape(-1, *SIG)
    folder = portal.data / "com-scan"
    folder.mkdir()
    parts = []
    for i, (lo, hi) in enumerate(pairwise(np.linspace(0, len(flat), PARTS + 1).astype(int))):
        (folder / f"part-{i}.raw").write_bytes(flat[lo:hi].tobytes())
        parts.append({"path": f"part-{i}.raw", "start": int(lo), "stop": int(hi)})
    doc = {"dtype": "<u2", "nav_shape": list(SCAN), "sig_shape": list(SIG), "partitions": parts}
    write_sidecar(folder / "scan.json", doc)
    body = {"name": "com-scan", "path": str(folder / "scan.json")}
    return int(portal.api("alice", "/api/datasets/", body)["id"])


@pytest.fixture
def page(browser: Any, portal: Portal) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    portal.login(page, "alice")
    yield page
    context.close()


def wait_finished(page: Any, after: int | None) -> int:
    page.wait_for_function(
        """(after) => {
            const s = window.__analysisPage && window.__analysisPage.state;
            return s && s.job && s.job.id !== after && s.job.finalShown;
        }""",
        arg=after,
        timeout=JOB_MS,
    )
    return page.evaluate("() => window.__analysisPage.state.job.id")


def record_shown(page: Any) -> None:
    """Every image the result view puts on a pane goes into ``window.__shown``."""
    page.evaluate(
        """() => {
            const view = window.__analysisPage.results;
            const show = view.show.bind(view);
            window.__shown = [];
            view.show = (job, name, arr, opts = {}) => {
                const finite = Array.from(arr.values).filter(Number.isFinite).length;
                window.__shown.push({ job: job.id, name, final: !!opts.final, finite });
                return show(job, name, arr, opts);
            };
        }"""
    )


def test_the_icom_image_builds_up_and_the_guess_is_adopted(
    page: Any, portal: Portal, scan_id: int
) -> None:
    page.goto(f"{portal.base}/datasets/{scan_id}/analyze/")
    first = wait_finished(page, None)
    page.select_option("#analysis-select", "com")
    com = wait_finished(page, first)
    # the disk on the spots (the frames' centre), as a user would set it
    page.fill("input[data-param=cx]", "16")
    page.fill("input[data-param=cy]", "16")
    page.fill("input[data-param=r]", "14")
    page.press("input[data-param=r]", "Enter")
    page.wait_for_function(
        """() => {
            const job = window.__analysisPage.state.job;
            const p = (job && job.params) || {};
            return p.cx === 16 && p.cy === 16 && p.r === 14 && job.finalShown;
        }""",
        timeout=JOB_MS,
    )
    com = page.evaluate("() => window.__analysisPage.state.job.id")
    # the corrections panel: the guess of this job, with its Adopt button
    page.wait_for_selector("#adopt-guess", state="visible")
    assert "Guessed from this field" in page.inner_text("#com-guess")
    # choose the iCoM phase, then change the riCOM kernel: a new job (the same parameters
    # would reuse the finished job's results, computing nothing), whose partial images are
    # iCoM's
    page.select_option("#result-select", "icom")
    record_shown(page)
    page.fill("input[data-param=ricom_radius]", "6")
    page.press("input[data-param=ricom_radius]", "Enter")
    rerun = wait_finished(page, com)
    assert portal.api("alice", f"/api/jobs/{rerun}/")["params"]["ricom_radius"] == 6
    shown = page.evaluate("(id) => window.__shown.filter((s) => s.job === id)", rerun)
    partial = [s for s in shown if s["name"] == "icom" and not s["final"]]
    final = [s for s in shown if s["final"]]
    assert partial, shown  # at least one partial iCoM image came over the websocket
    assert all(s["name"] == "icom" for s in shown), shown  # never the magnitude instead
    assert final[-1]["name"] == "icom" and final[-1]["finite"] == SCAN[0] * SCAN[1]
    assert partial[0]["finite"] < SCAN[0] * SCAN[1]  # built up: part of the scan still NaN
    assert "icom of job" in page.inner_text("#scan-source")
    # adopt the guess: the form shows the numbers and the next job runs with them
    guess = page.evaluate(
        """async (id) => {
            const r = await fetch(`/api/jobs/${id}/results/guess.npy`);
            const { parseNpy } = await import("/static/js/npy.js");
            return Array.from(parseNpy(await r.arrayBuffer()).values);
        }""",
        rerun,
    )
    page.click("#adopt-guess")
    adopted = wait_finished(page, rerun)
    rotation = round(guess[0], 2)
    assert float(page.input_value("input[data-param=scan_rotation]")) == pytest.approx(rotation)
    assert page.input_value("select[data-param=flip_y]") == ("true" if guess[1] else "false")
    assert guess[0] == pytest.approx(30.0, abs=0.5) and guess[1] == 0.0  # the turn we made
    params = portal.api("alice", f"/api/jobs/{adopted}/")["params"]
    assert params["scan_rotation"] == pytest.approx(rotation)
    assert params["flip_y"] is bool(guess[1])
    assert params["cy"] == pytest.approx(round(guess[2], 2))
    assert params["cx"] == pytest.approx(round(guess[3], 2))
