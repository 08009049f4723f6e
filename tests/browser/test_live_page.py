"""The live session page in Chromium, fed by a scripted job websocket and job API (a Playwright
route stands in for the server's live session): the images build up from ``partial``
messages (the final one equals the numpy array sent), the latest complete scan shows beside the
one building up, the operator's drag of the ring becomes ``PUT .../analyses/0/`` with the new
centre, and a viewer gets the same images without controls. The end-to-end run with a simulated
detector is in test_live_session_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import Portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIG = (32, 32)
NAV = (8, 8)
RING = {"shape": "ring", "cx": 15.5, "cy": 15.5, "ri": 4, "ro": 10}
ANALYSES = [
    {"index": 0, "analysis": "virtual", "params": RING},
    {"index": 1, "analysis": "sum", "params": {}},
]


def _django(portal: Portal, code: str) -> Any:
    return json.loads(portal.manage("shell", "-c", code).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def session_id(portal: Portal) -> Iterator[int]:
    """A live session row of alice's (running, shared with whoever sees its dataset); no
    receiver runs: the tests script what the server would send."""
    dataset = portal.api(
        "alice",
        "/api/datasets/",
        {"name": "live-page demo", "path": str(portal.data / "demo" / "demo.json")},
    )["id"]
    job = _django(
        portal,
        f"""
import json
from django.contrib.auth.models import Group, User
from apps.datasets.models import Dataset
from apps.jobs.models import Job
ds = Dataset.objects.get(pk={dataset})
group, _ = Group.objects.get_or_create(name="live-page-beam")
group.user_set.add(*User.objects.filter(username__in=["alice", "bob"]))
ds.groups.add(group)
print(json.dumps(Job.objects.create(
    owner=ds.owner, dataset=ds, kind="live", status="running", shared=True, frames_total=64).pk))
""",
    )
    yield job
    _django(
        portal, f"from apps.jobs.models import Job; Job.objects.filter(pk={job}).delete(); print(1)"
    )


def _job(job_id: int, *, continuous: bool = True, status: str = "running") -> dict[str, Any]:
    live = {
        "detector": 1, "nav_shape": list(NAV), "sig_shape": list(SIG), "analyses": ANALYSES,
        "continuous": continuous, "state": "receiving", "frames": 0, "lost_frames": 0,
        "dataset": None, "scan": 0,
    }  # fmt: skip
    return {
        "id": job_id, "kind": "live", "status": status, "error": "",
        "progress": {"done": 0, "total": 64}, "live": live,
    }  # fmt: skip


class ScriptedServer:
    """The job websocket and job API of one session, answered by the test."""

    def __init__(self, page: Any, job_id: int, job: dict[str, Any]) -> None:
        self.sockets: list[Any] = []
        self.puts: list[dict[str, Any]] = []
        self.added: list[dict[str, Any]] = []
        self.stops = 0
        self.job = job

        def socket(ws: Any) -> None:
            self.sockets.append(ws)
            ws.send(json.dumps({"type": "status", "id": job_id, **self.job}))

        def api(route: Any) -> None:
            route.fulfill(json=self.job)

        def change(route: Any) -> None:
            self.puts.append(json.loads(route.request.post_data))
            route.fulfill(json={"index": 0})

        page.route_web_socket(f"**/ws/jobs/{job_id}/", socket)
        page.route(f"**/api/jobs/{job_id}/", api)
        page.route(f"**/api/live/sessions/{job_id}/analyses/0/", change)

        def add(route: Any) -> None:
            self.added.append(json.loads(route.request.post_data))
            route.fulfill(status=201, json={"index": 2, **self.added[-1]})

        def stop(route: Any) -> None:
            self.stops += 1
            route.fulfill(json={**self.job, "live": {**self.job["live"], "stop_requested": True}})

        page.route(f"**/api/live/sessions/{job_id}/analyses/", add)
        page.route(f"**/api/live/sessions/{job_id}/stop/", stop)

    def partial(self, analysis: int, name: str, scan: int, done: int, image: np.ndarray) -> None:
        header = {
            "type": "partial", "kind": "live", "analysis": analysis, "name": name, "scan": scan,
            "done": done, "total": 64, "shape": list(image.shape), "dtype": "float32",
        }  # fmt: skip
        for ws in self.sockets:
            ws.send(json.dumps(header))
            ws.send(image.astype("<f4").tobytes())


@pytest.fixture
def open_session(browser: Any, portal: Portal, session_id: int) -> Iterator[Callable[..., Any]]:
    contexts = []

    def open_page(user: str, **job: Any) -> tuple[Any, ScriptedServer]:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        portal.login(page, user)
        server = ScriptedServer(page, session_id, _job(session_id, **job))
        page.goto(f"{portal.base}/live/{session_id}/")
        page.wait_for_function("() => window.__livePage && window.__livePage.panes.size === 2")
        return page, server

    yield open_page
    for context in contexts:
        context.close()


def _shown(page: Any, index: int, slot: str = "building") -> Any:
    return page.evaluate(
        """([index, slot]) => {
            const image = window.__livePage.images.image(index, slot);
            return image && { scan: image.scan, done: image.done, values: Array.from(image.values) };
        }""",
        [index, slot],
    )


def _view_values(page: Any, index: int, slot: str) -> list[float]:
    return page.evaluate(
        """([index, slot]) => Array.from(window.__livePage.panes.get(index)[slot].image.values)""",
        [index, slot],
    )


def _canvas_colours(page: Any, index: int, slot: str) -> int:
    """How many distinct colours the pane's canvas shows (0: nothing drawn)."""
    return page.evaluate(
        """([index, slot]) => {
            const canvas = window.__livePage.panes.get(index)[slot].offscreen;
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            const seen = new Set();
            for (let i = 0; i < data.length; i += 4) seen.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
            return canvas.width > 1 ? seen.size : 0;
        }""",
        [index, slot],
    )


def test_the_operator_sees_scans_build_up_and_moves_the_ring(open_session: Any) -> None:
    page, server = open_session("alice")
    assert page.locator("#live-stop").is_visible()
    rng = np.random.default_rng(3)
    first = rng.random(NAV).astype(np.float32)
    first[4:] = np.nan  # the rows not received yet
    server.partial(0, "intensity", 0, 32, first)
    page.wait_for_function("() => window.__livePage.images.image(0) !== null")
    got = np.array(_view_values(page, 0, "building"), dtype=np.float32).reshape(NAV)
    np.testing.assert_array_equal(got, first)
    complete = rng.random(NAV).astype(np.float32)
    server.partial(0, "intensity", 0, 64, complete)
    server.partial(0, "intensity", 1, 16, first)  # the next scan starts building
    page.wait_for_function("() => (window.__livePage.images.image(0).scan === 1)")
    np.testing.assert_array_equal(
        np.array(_view_values(page, 0, "complete"), dtype=np.float32).reshape(NAV), complete
    )
    assert _shown(page, 0)["done"] == 16
    assert _canvas_colours(page, 0, "complete") > 10
    counters = page.locator("#live-counters").inner_text()
    assert "frames" in counters and "scan 2" in counters

    # the sum frame is the detector view's image; the ring is drawn on it and dragged
    frame = rng.random(SIG).astype(np.float32)
    server.partial(1, "sum", 1, 16, frame)
    page.wait_for_function("() => window.__livePage.detectorView.image.width === 32")
    box = page.locator("#detector-view canvas").bounding_box()
    scale = box["height"] / SIG[0]
    ring_x = box["x"] + box["width"] / 2 + (RING["ri"] + RING["ro"]) / 2 * scale
    y = box["y"] + box["height"] / 2
    page.mouse.move(ring_x, y)
    page.mouse.down()
    page.mouse.move(ring_x - 3 * scale, y - 2 * scale, steps=5)
    page.mouse.up()
    for _ in range(50):
        if server.puts:
            break
        page.wait_for_timeout(100)
    assert len(server.puts) == 1
    params = server.puts[0]["params"]
    assert params["shape"] == "ring" and (params["ri"], params["ro"]) == (4, 10)
    assert params["cx"] == pytest.approx(12.5, abs=0.6) and params["cy"] == pytest.approx(
        13.5, abs=0.6
    )

    # add the centre of mass, then stop
    page.select_option("#live-add-params .live-row select", "com")
    page.fill("#live-add-params input[name=r]", "5")
    page.dispatch_event("#live-add-params input[name=r]", "change")
    page.click("#live-add-button")
    page.click("#live-stop")
    page.wait_for_function("() => document.getElementById('message').textContent.includes('Stop')")
    assert page.locator("#live-stop").is_disabled()  # asked once; the end hides it
    assert len(server.added) == 1 and server.added[0]["analysis"] == "com"
    assert server.added[0]["params"]["r"] == 5 and server.added[0]["params"]["cx"] == 15.5
    assert server.stops == 1
    assert page.errors == []


def test_a_viewer_sees_the_images_without_controls(open_session: Any) -> None:
    page, server = open_session("bob", continuous=False)
    assert page.locator("#live-stop").count() == 0 and page.locator("#live-add").count() == 0
    image = np.arange(64, dtype=np.float32).reshape(NAV)
    server.partial(0, "intensity", 0, 64, image)
    page.wait_for_function("() => window.__livePage.images.image(0) !== null")
    np.testing.assert_array_equal(
        np.array(_view_values(page, 0, "building"), dtype=np.float32).reshape(NAV), image
    )
    assert window_complete_pane(page) is False  # one scan only: no "latest complete" pane
    # a drag on the detector view changes nothing
    box = page.locator("#detector-view canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2 + 50, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 20, box["y"] + 20, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert server.puts == []
    # the operator moved the ring: the viewer's drawing follows the live message
    moved = [{**ANALYSES[0], "params": {**RING, "cx": 10.5}}, ANALYSES[1]]
    for ws in server.sockets:
        ws.send(json.dumps({"type": "live", "kind": "live", "state": "receiving", "scan": 0,
                            "frames": 64, "total": 64, "lost_frames": 0, "analyses": moved,
                            "revision": 1}))  # fmt: skip
    page.wait_for_function("() => window.__livePage.state.analyses[0].params.cx === 10.5")
    assert page.errors == []


def window_complete_pane(page: Any) -> bool:
    return page.evaluate("() => Boolean(window.__livePage.panes.get(0).complete)")


def test_the_end_links_the_recording_and_the_results(open_session: Any, session_id: int) -> None:
    page, server = open_session("bob", continuous=False)
    server.job = {**server.job, "status": "finished",
                  "live": {**server.job["live"], "state": "complete", "dataset": 4242}}  # fmt: skip
    for ws in server.sockets:
        ws.send(json.dumps({"type": "finished", "id": session_id, "kind": "live", "done": 64,
                            "total": 64, "results": []}))  # fmt: skip
    page.wait_for_selector("#live-dataset:not([hidden])")
    assert page.locator("#live-dataset").get_attribute("href") == "/datasets/4242/"
    assert page.locator("#live-results").get_attribute("href") == f"/jobs/{session_id}/"
    assert page.locator("#live-state").inner_text() == "finished"


def test_the_arm_form_names_a_refused_field(browser: Any, portal: Portal) -> None:
    """The arm form posts the detector, scan, analyses and viewers it shows; a 400 from the
    API is shown with the field it names, and the form stays for a correction."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    portal.login(page, "alice")
    posted: list[dict[str, Any]] = []
    detectors = {"results": [{"id": 7, "name": "merlin-a", "kind": "merlin", "sig_shape": [64, 64],
                              "trigger_mode": "soft", "folder": 1}]}  # fmt: skip

    def sessions(route: Any) -> None:
        posted.append(json.loads(route.request.post_data))
        error = "analyses[0].params.ro: at most 45.25 (the detector is 64 x 64)."
        route.fulfill(
            status=400, json={"error": error, "fields": {"analyses[0].params.ro": "at most 45.25"}}
        )

    page.route("**/api/live/detectors/", lambda route: route.fulfill(json=detectors))
    page.route("**/api/live/sessions/", sessions)
    try:
        page.goto(f"{portal.base}/live/")
        page.wait_for_selector("#arm-form:not([hidden])")
        assert page.locator("#arm-detector-info").inner_text() == "merlin · frames 64 × 64"
        page.fill("#arm-ny", "16")
        page.fill("#arm-nx", "20")
        page.check("#arm-continuous")
        page.click("#arm-submit")
        page.wait_for_selector("#arm-error:not([hidden])")
        assert "analyses[0].params.ro" in page.locator("#arm-error").inner_text()
        assert page.url.endswith("/live/") and page.locator("#arm-submit").is_enabled()
        [body] = posted
        assert body["detector"] == 7 and body["nav_shape"] == [16, 20] and body["continuous"]
        # the first analysis starts as the analysis page's ring, made for the 64 x 64 frame
        assert body["analyses"] == [
            {
                "analysis": "virtual",
                "params": {"shape": "ring", "cx": 31.5, "cy": 31.5, "ri": 13, "ro": 26},
            }
        ]
        assert page.errors == []
    finally:
        context.close()
