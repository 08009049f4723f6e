"""The analysis page in a real Chromium against a live portal (see conftest.py).

Covers what a scientist does: log in, register the demo dataset in the file browser, open the
analysis page, drag a ring and watch the scan image change, pick a frame, look at the COM
field, download a result (checked against a numpy reference), and that another user gets 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import ARTIFACTS, FollowRecorder, Portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_SECONDS = 60_000  # ms Playwright waits for a job (the first one also starts dask workers)


def _api(portal: Portal, user: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return portal.api(user, path, body)


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    """The demo dataset registered by alice through the API (the UI path has its own test)."""
    created = _api(
        portal,
        "alice",
        "/api/datasets/",
        {"name": "demo", "path": str(portal.data / "demo" / "demo.json")},
    )
    return int(created["id"])


@pytest.fixture
def alice_page(browser: Any, portal: Portal) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda m: page.console_messages.append(m.text))
    portal.login(page, "alice")
    yield page
    context.close()


def _open_analysis(page: Any, portal: Portal, dataset_id: int) -> None:
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    _wait_finished(page)


def _wait_finished(page: Any, after_job: int | None = None) -> int:
    """Wait until the page shows a finished job (newer than ``after_job``); its id."""
    page.wait_for_function(
        """(after) => {
            const s = window.__analysisPage && window.__analysisPage.state;
            return s && s.job && s.job.id !== after && s.job.finalShown;
        }""",
        arg=after_job,
        timeout=JOB_SECONDS,
    )
    assert page.get_attribute("#job-state", "data-state") == "finished"
    return page.evaluate("() => window.__analysisPage.state.job.id")


def _rate_text(gbs: float) -> str:
    """A GB/s figure as the page writes it (``formatRate``: three figures, GB/s to kB/s)."""
    units = ((1.0, 1.0, "GB/s"), (1e-3, 1e3, "MB/s"), (0.0, 1e6, "kB/s"))
    scale, unit = next((scale, unit) for least, scale, unit in units if gbs >= least)
    value = gbs * scale
    return f"{value:.0f} {unit}" if value >= 100 else f"{value:#.3g} {unit}"


def _canvas_pixels(page: Any, selector: str) -> np.ndarray:
    """The RGBA pixels of an image view's canvas, as the user sees them."""
    data = page.evaluate(
        """(sel) => {
            const c = document.querySelector(sel + ' canvas.imageview-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return Array.from(d);
        }""",
        selector,
    )
    return np.array(data, dtype=np.uint8)


def _on_screen(page: Any, view: str, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image point (x, y) of ``view`` ("detectorView" or "scanView")."""
    return tuple(
        page.evaluate(
            """([view, x, y]) => {
                const v = window.__analysisPage[view];
                const r = v.canvas.getBoundingClientRect();
                const s = v.toScreen(x, y);
                return [r.left + s.x, r.top + s.y];
            }""",
            [view, x, y],
        )
    )


def _shape_params(page: Any) -> dict[str, Any]:
    return page.evaluate("() => window.__analysisPage.editor.params()")


def _drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def test_it_logs_in_and_registers_the_demo_through_the_file_browser(
    browser: Any, portal: Portal
) -> None:
    context = browser.new_context()
    page = context.new_page()
    portal.login(page, "alice")
    page.goto(f"{portal.base}/datasets/register/")
    page.click(f"a:text-is('{portal.data}/')")  # the data root
    page.click("a:text-is('demo/')")
    page.click("a:text-is('demo.json')")
    page.fill("input[name=name]", "demo from the browser")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(lambda url: "/register/" not in url)
    assert "64 × 64" in page.inner_text("main")
    context.close()


def test_it_shows_the_mean_frame_and_a_first_scan_image(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    alice_page.wait_for_function(
        "() => window.__analysisPage.state.mean !== null", timeout=JOB_SECONDS
    )
    assert "mean frame" in alice_page.inner_text("#detector-source")
    assert alice_page.get_attribute(".progress", "aria-valuenow") == "100"
    assert _canvas_pixels(alice_page, "#scan-view").reshape(-1, 4)[:, :3].std() > 10


def test_it_reruns_the_job_when_the_ring_is_dragged(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    if alice_page.input_value("#analysis-select") != "virtual:ring":
        alice_page.select_option("#analysis-select", "virtual:ring")
        alice_page.wait_for_function("() => window.__analysisPage.state.job.analysis === 'virtual'")
    first = _wait_finished(alice_page)
    before = _canvas_pixels(alice_page, "#scan-view")
    timings_before = alice_page.evaluate("() => window.__analysisTimings.length")
    requested: list[str] = []
    alice_page.on("request", lambda r: requested.append(f"{r.method} {r.url}"))

    # Pull the outer radius in to 30 px: the diffraction spots of the grains (about 44 px from
    # the centre) leave the ring, so the bright grains vanish from the dark-field image.
    ring = _shape_params(alice_page)
    grab = _on_screen(alice_page, "detectorView", ring["cx"] + ring["ro"], ring["cy"])
    target = _on_screen(alice_page, "detectorView", ring["cx"] + 30, ring["cy"])
    _drag(alice_page, grab, target)
    assert abs(_shape_params(alice_page)["ro"] - 30) < 0.6
    second = _wait_finished(alice_page, after_job=first)

    assert second != first
    assert alice_page.get_attribute(".progress", "aria-valuenow") == "100"
    assert "4,096 / 4,096 frames" in alice_page.inner_text("#progress-text")
    # The finished message brought the results, the image and the server's throughput: the
    # page asked nothing more about the job (the history strip reads the list, not the job).
    shown = _api(portal, "alice", f"/api/jobs/{second}/")
    assert f"GET {portal.base}/api/jobs/{second}/" not in requested, requested
    assert alice_page.inner_text("#progress-text").endswith(_rate_text(shown["throughput_gbs"]))
    after = _canvas_pixels(alice_page, "#scan-view")
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 5
    # Two more drags of the outer radius, for a steadier measure of how live it feels; the
    # last one takes the spots in again, so the screenshot shows the grains.
    last = second
    for ro in (36, 48):
        ring = _shape_params(alice_page)
        grab = _on_screen(alice_page, "detectorView", ring["cx"] + ring["ro"], ring["cy"])
        _drag(alice_page, grab, _on_screen(alice_page, "detectorView", ring["cx"] + ro, ring["cy"]))
        last = _wait_finished(alice_page, after_job=last)
    alice_page.wait_for_function(
        "(n) => window.__analysisTimings.length >= n + 3", arg=timings_before, timeout=JOB_SECONDS
    )
    for t in alice_page.evaluate("(n) => window.__analysisTimings.slice(n)", timings_before):
        print(
            f"\nTIMING ring release -> job submitted {t['submitMs']:.0f} ms, "
            f"-> first image {t['firstImageMs']:.0f} ms, -> final image {t['finalMs']:.0f} ms "
            f"(job {t['job']}, partial image seen: {t['partialSeen']})"
        )
    alice_page.wait_for_timeout(300)  # the progress bar's width transition
    ARTIFACTS.mkdir(exist_ok=True)
    alice_page.screenshot(path=str(ARTIFACTS / "analysis-page.png"), full_page=True)


def test_a_release_that_changes_nothing_starts_no_job_but_run_does(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    """A drag's release can come after the job of its last move was started (a timer of the
    previous release firing mid-drag); it must not start the same job again. Run always does."""
    _open_analysis(alice_page, portal, dataset_id)
    first = _wait_finished(alice_page)
    seq = alice_page.evaluate("() => window.__analysisPage.state.seq")
    alice_page.evaluate("() => window.__analysisPage.editor.changed(true)")  # release, no change
    alice_page.wait_for_timeout(600)  # well past the debounce
    assert alice_page.evaluate("() => window.__analysisPage.state.job.id") == first
    assert alice_page.evaluate("() => window.__analysisPage.state.seq") == seq
    assert alice_page.get_attribute("#job-state", "data-state") == "finished"

    alice_page.click("#run")
    assert _wait_finished(alice_page, after_job=first) != first


def test_a_release_submits_at_once_and_a_key_nudge_after_the_pause(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    """A mouse release ends its drag: the job is submitted in the same task, with no pause
    (the interactive latency, docs/performance.md); a key nudge still waits for the burst to
    end, and a release that changes nothing starts no job."""
    _open_analysis(alice_page, portal, dataset_id)
    first = _wait_finished(alice_page)
    seqs = alice_page.evaluate(
        """() => {
            const { state, editor } = window.__analysisPage;
            const before = state.seq;
            editor.changed(true, true);  // released, shape unchanged: the same job
            const same = state.seq;
            editor.shape.p.ro -= 1.5;
            editor.changed(false);  // a move of the drag: nothing yet
            const moving = state.seq;
            editor.changed(true, true);  // the release
            return [before, same, moving, state.seq];
        }"""
    )
    before, same, moving, released = seqs
    assert same == before and moving == before
    assert released == before + 1
    second = _wait_finished(alice_page, after_job=first)
    ro = alice_page.evaluate("() => window.__analysisPage.state.job.params.ro")
    assert ro == pytest.approx(_shape_params(alice_page)["ro"])

    seq = alice_page.evaluate(
        """() => {
            const { state, editor } = window.__analysisPage;
            editor.shape.p.ro -= 1;
            editor.changed(true);  // a key's nudge
            return state.seq;
        }"""
    )
    assert seq == released  # not yet: the pause of a burst of keys
    third = _wait_finished(alice_page, after_job=second)
    assert alice_page.evaluate("() => window.__analysisPage.state.seq") == released + 1
    assert third != second


def test_it_shows_the_frame_of_a_clicked_scan_position(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    alice_page.wait_for_function(
        "() => window.__analysisPage.state.mean !== null", timeout=JOB_SECONDS
    )
    before = _canvas_pixels(alice_page, "#detector-view")
    alice_page.mouse.click(*_on_screen(alice_page, "scanView", 20, 10))  # column 20, row 10
    alice_page.wait_for_function(
        "() => document.querySelector('#detector-source').textContent === 'frame at scan row 10, column 20'"
    )
    after = _canvas_pixels(alice_page, "#detector-view")
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1
    # the frame on screen is the frame in the file
    shown = alice_page.evaluate(
        "() => Array.from(window.__analysisPage.detectorView.image.values.slice(0, 256))"
    )
    raw = np.memmap(portal.data / "demo" / "demo.raw", dtype="<u2", mode="r")
    expected = raw.reshape(64, 64, 128 * 128)[10, 20, :256]
    np.testing.assert_array_equal(np.array(shown), expected.astype(np.float32))


def test_it_shows_the_com_field_as_a_colour_wheel(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    first = alice_page.evaluate("() => window.__analysisPage.state.job.id")
    alice_page.select_option("#analysis-select", "com")
    _wait_finished(alice_page, after_job=first)
    assert alice_page.evaluate("() => window.__analysisPage.state.job.analysis") == "com"
    # the form comes from com's declaration: the rotation's unit and default are shown
    rotation = alice_page.locator("label:has(input[data-param=scan_rotation])")
    assert rotation.locator(".unit").inner_text().strip() == "deg"
    assert alice_page.input_value("input[data-param=scan_rotation]") == "0"
    assert "default 0" in (rotation.get_attribute("title") or "")
    alice_page.select_option("#result-select", "field")
    alice_page.wait_for_selector("#wheel-legend", state="visible")
    rgba = _canvas_pixels(alice_page, "#scan-view").reshape(-1, 4)
    opaque = rgba[rgba[:, 3] == 255, :3].astype(int)
    # a deflection field with many directions: red, green and blue all dominate somewhere
    dominant = np.bincount(opaque.argmax(axis=1), minlength=3)
    assert (dominant > 0.02 * len(opaque)).all()
    alice_page.select_option("#result-select", "divergence")
    alice_page.wait_for_selector("#wheel-legend", state="hidden")
    for name in ("x", "y", "magnitude", "curl"):
        assert (
            alice_page.locator(f"#downloads a[data-result='{name}'][data-format='npy']").count()
            == 1
        )


def test_it_downloads_the_virtual_image_as_npy(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    first = alice_page.evaluate("() => window.__analysisPage.state.job.id")
    alice_page.select_option("#analysis-select", "virtual:disk")
    _wait_finished(alice_page, after_job=first)
    params = alice_page.evaluate("() => window.__analysisPage.state.job.params")
    with alice_page.expect_download() as info:
        alice_page.click("#downloads a[data-result='intensity'][data-format='npy']")
    got = np.load(info.value.path())

    raw = np.memmap(portal.data / "demo" / "demo.raw", dtype="<u2", mode="r")
    frames = raw.reshape(64 * 64, 128 * 128).astype(np.float64)
    yy, xx = np.mgrid[:128, :128]
    disk = ((yy - params["cy"]) ** 2 + (xx - params["cx"]) ** 2 <= params["r"] ** 2).ravel()
    expected = (frames @ disk).reshape(64, 64)
    assert got.shape == (64, 64)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    alice_page.click("#python summary")
    snippet = alice_page.inner_text("#python-code")
    assert '"analysis": "virtual"' in snippet and '"shape": "disk"' in snippet
    assert "results/{name}.npy" in snippet


def test_it_hides_alices_job_and_dataset_from_bob(
    browser: Any, portal: Portal, dataset_id: int
) -> None:
    job = _api(
        portal, "alice", "/api/jobs/", {"dataset": dataset_id, "analysis": "sum", "params": {}}
    )
    context = browser.new_context()
    page = context.new_page()
    portal.login(page, "bob")
    for path in (
        f"/jobs/{job['id']}/",
        f"/datasets/{dataset_id}/analyze/",
        f"/api/datasets/{dataset_id}/frame/?y=0&x=0",
    ):
        response = page.goto(portal.base + path)
        assert response.status == 404, path
    context.close()


def test_it_explains_refused_parameters_in_plain_words(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    if alice_page.input_value("#analysis-select") != "virtual:ring":
        alice_page.select_option("#analysis-select", "virtual:ring")
    alice_page.fill("input[data-param=ri]", "80")
    alice_page.press("input[data-param=ri]", "Enter")
    alice_page.wait_for_selector("#job-state[data-state=refused]")
    message = alice_page.inner_text("#message")
    assert message.startswith("The server did not start the job:")
    assert "ro" in message and "ri" in message


def test_it_follows_every_job_on_one_websocket(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    """The page opens one socket and follows each new job on it: no job waits for a
    handshake. Fails if the page went back to a socket per job."""
    feed = FollowRecorder(alice_page)
    _open_analysis(alice_page, portal, dataset_id)
    jobs = [alice_page.evaluate("() => window.__analysisPage.state.job.id")]
    for _ in range(2):
        alice_page.click("#run")
        jobs.append(_wait_finished(alice_page, after_job=jobs[-1]))
    assert len(set(jobs)) == 3
    assert [url.split("//", 1)[1].split("/", 1)[1] for url in feed.sockets] == ["ws/jobs/"]
    assert feed.follows[-2:] == jobs[-2:]
    assert set(jobs) <= set(feed.follows)


def test_it_reconnects_a_lost_websocket_and_catches_up(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    feed = FollowRecorder(alice_page)
    _open_analysis(alice_page, portal, dataset_id)
    first = alice_page.evaluate("() => window.__analysisPage.state.job.id")
    feed.drop_next = True  # the connection dies as the page follows the next job
    alice_page.click("#run")
    alice_page.wait_for_function(
        "() => document.querySelector('#message').textContent.includes('Lost the live connection')"
    )
    second = _wait_finished(alice_page, after_job=first)
    assert feed.dropped == [second]
    assert len(feed.sockets) == 2  # reconnected, and followed the job again
    assert feed.follows[-1] == second
    assert alice_page.inner_text("#message") == ""
    assert alice_page.get_attribute(".progress", "aria-valuenow") == "100"


def test_a_cancel_that_comes_too_late_says_the_job_has_finished(
    alice_page: Any, portal: Portal, dataset_id: int
) -> None:
    _open_analysis(alice_page, portal, dataset_id)
    job_id = alice_page.evaluate("() => window.__analysisPage.state.job.id")
    assert alice_page.is_disabled("#cancel")  # the page knows the job has ended
    # A click that raced the job's end (the button was still enabled when it was pressed):
    alice_page.evaluate("() => { document.getElementById('cancel').disabled = false; }")
    alice_page.click("#cancel")
    alice_page.wait_for_function(
        "() => document.getElementById('message').textContent.includes('nothing to cancel')"
    )
    assert alice_page.inner_text("#message") == (
        f"Job {job_id} has already finished; there is nothing to cancel."
    )
    assert alice_page.get_attribute("#job-state", "data-state") == "finished"
