"""Issue 24's "done when", in Chromium against a live portal and LiberTEM-live's Merlin
simulator: alice arms the simulated detector from /live/, bob and carol watch in their own
browser contexts and their images build up (a partial image before the final one), alice drags
the ring mid-scan and the viewers' image becomes the new ring's image (the numpy reference over
every frame, and the canvas's colours at its brightest and darkest pixel), and at the end the
recording with its results is in the catalogue with the live badge.

With UPDATE_DOC_IMAGES=1 the screenshots of docs/live.md are written again."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import ARTIFACTS, Portal
from tests.browser.test_units_display import _doc_image
from tests.merlin_files import write_hdr, write_mib
from tests.simulators import Simulators, simulators  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIG = 32
NAV = (12, 12)
DWELL_US = 200_000  # 29 s for the scan: time for the viewers to open it and the ring to move
RING = {"cx": 16, "cy": 16, "ri": 4, "ro": 12}
VIRIDIS_TOP, VIRIDIS_BOTTOM = (253, 231, 37), (68, 1, 84)


def _django(portal: Portal, code: str) -> Any:
    return json.loads(portal.manage("shell", "-c", code).strip().splitlines()[-1])


def _ring_image(frames: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """The ring's sum per frame (docs/analyses.md: pixel centres with ri < r <= ro)."""
    yy, xx = np.mgrid[:SIG, :SIG]
    r2 = (yy - p["cy"]) ** 2 + (xx - p["cx"]) ** 2
    ring = (r2 > p["ri"] ** 2) & (r2 <= p["ro"] ** 2)
    return frames.astype(np.float64)[..., ring].sum(axis=-1)


def _merlin_detector(
    portal: Portal, sims: Simulators, folder: Path, nav: tuple[int, int], dwell_us: int
) -> np.ndarray:
    """The Merlin simulator replaying a scan of ``nav`` 32 x 32 frames (returned), configured
    as the detector "merlin-e2e" that the group "live-e2e" (alice, bob, carol) may operate."""
    frames = np.random.default_rng(24).integers(0, 4096, size=(*nav, SIG, SIG), dtype=np.uint16)
    n = nav[0] * nav[1]
    write_mib(folder / "scan.mib", frames.reshape(n, SIG, SIG))
    write_hdr(folder / "scan.hdr", n, nav[1])
    sim = sims.merlin(folder / "scan.hdr", nav_shape=nav, dwelltime_us=dwell_us)
    if "carol" not in portal.passwords:
        portal.passwords["carol"] = "carol-pw-4d-stem"
        portal.manage("createuser", "carol", "--password-stdin", stdin=portal.passwords["carol"])
    _django(
        portal,
        f"""
from pathlib import Path
from django.contrib.auth.models import Group, User
from apps.datasets.models import DataFolder
from apps.acquisition.models import Detector
group, _ = Group.objects.get_or_create(name="live-e2e")
group.user_set.add(*User.objects.filter(username__in=["alice", "bob", "carol"]))
folder = DataFolder.objects.get(path=str(Path({str(portal.data)!r}).resolve()))
d, _ = Detector.objects.update_or_create(name="merlin-e2e", defaults=dict(
    kind="merlin", host="127.0.0.1", data_port={sim.ports["data"]},
    control_port={sim.ports["control"]}, trigger_mode="soft", sig_shape=[{SIG}, {SIG}],
    folder=folder))
d.groups.add(group)
print(d.pk)
""",
    )
    return frames


@pytest.fixture
def detector(portal: Portal, simulators: Simulators, tmp_path: Path) -> np.ndarray:  # noqa: F811
    return _merlin_detector(portal, simulators, tmp_path, NAV, DWELL_US)


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for context in opened:
        context.close()


def _page(browser: Any, portal: Portal, contexts: list[Any], user: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    contexts.append(context)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    portal.login(page, user)
    return page


def _arm(page: Any, portal: Portal) -> int:
    page.goto(f"{portal.base}/live/")
    page.wait_for_selector("#arm-form:not([hidden])")
    page.select_option("#arm-detector", label="merlin-e2e")
    page.fill("#arm-ny", str(NAV[0]))
    page.fill("#arm-nx", str(NAV[1]))
    row = page.locator(".live-analysis").first
    for name, value in RING.items():
        row.locator(f"input[name={name}]").fill(str(value))
        row.locator(f"input[name={name}]").dispatch_event("change")
    page.select_option("#arm-add-mode", "sum")
    page.click("#arm-add")
    page.check("input[name=share_with_groups][value=live-e2e]")
    page.fill("#arm-name", "e2e-scan")
    page.click("#arm-submit")
    page.wait_for_url("**/live/*/")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def _drag_ring(page: Any, dx: float, dy: float) -> None:
    """Drag the ring's body (its middle radius, right of the centre) by (dx, dy) pixels."""
    page.wait_for_function("() => window.__livePage.detectorView.image !== null")
    canvas = page.locator("#detector-view canvas")
    box = canvas.bounding_box()
    scale = min(box["width"], box["height"]) / SIG
    ox = box["x"] + (box["width"] - SIG * scale) / 2
    oy = box["y"] + (box["height"] - SIG * scale) / 2
    x = ox + (RING["cx"] + (RING["ri"] + RING["ro"]) / 2) * scale
    y = oy + RING["cy"] * scale
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx * scale, y + dy * scale, steps=6)
    page.mouse.up()


def _viewer_image(page: Any) -> np.ndarray:
    values = page.evaluate("() => Array.from(window.__livePage.panes.get(0).building.image.values)")
    return np.array(values, dtype=np.float64).reshape(NAV)


def _canvas_rgb(page: Any) -> np.ndarray:
    rgba = page.evaluate(
        """() => {
            const c = window.__livePage.panes.get(0).building.offscreen;
            return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data);
        }"""
    )
    return np.array(rgba, dtype=np.uint8).reshape(*NAV, 4)[..., :3]


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    data = page.screenshot(full_page=False)
    (ARTIFACTS / f"{name}.png").write_bytes(data)
    _doc_image(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), name)


def test_an_operator_arms_two_viewers_watch_the_ring_moves_and_the_scan_is_catalogued(
    browser: Any, portal: Portal, detector: np.ndarray, contexts: list[Any]
) -> None:
    frames = detector
    viewers = [_page(browser, portal, contexts, user) for user in ("bob", "carol")]
    alice = _page(browser, portal, contexts, "alice")
    session = _arm(alice, portal)
    for page in viewers:
        page.goto(f"{portal.base}/live/{session}/")
        assert page.locator("#live-stop").count() == 0
    total = NAV[0] * NAV[1]
    building = f"""() => window.__livePage.received.some(
        (r) => r.analysis === 0 && r.done > 0 && r.done < {total})"""
    for page in (alice, *viewers):
        page.wait_for_function(building, timeout=120_000)
    _shot(alice, "live-operator")

    _drag_ring(alice, -4, -2)
    alice.wait_for_function(
        "() => window.__livePage.state.analyses[0].params.cx !== 16", timeout=30_000
    )
    moved = alice.evaluate("() => window.__livePage.state.analyses[0].params")
    assert moved["shape"] == "ring" and (moved["ri"], moved["ro"]) == (RING["ri"], RING["ro"])
    assert moved["cx"] == pytest.approx(12, abs=0.6) and moved["cy"] == pytest.approx(14, abs=0.6)
    # the viewers' drawing follows the operator's ring
    for page in viewers:
        page.wait_for_function(
            f"() => window.__livePage.state.analyses[0].params.cx === {moved['cx']}",
            timeout=30_000,
        )
    _shot(viewers[0], "live-viewer")

    for page in (alice, *viewers):
        page.wait_for_selector("#live-end:not([hidden])", timeout=120_000)
    want = _ring_image(frames, moved)
    for page in viewers:
        np.testing.assert_allclose(_viewer_image(page), want, rtol=1e-6)
        rgb = _canvas_rgb(page)
        top = np.unravel_index(np.argmax(want), NAV)
        bottom = np.unravel_index(np.argmin(want), NAV)
        assert np.abs(rgb[top].astype(int) - VIRIDIS_TOP).max() <= 6
        assert np.abs(rgb[bottom].astype(int) - VIRIDIS_BOTTOM).max() <= 6
        assert page.errors == []

    dataset = int(alice.locator("#live-dataset").get_attribute("href").strip("/").split("/")[-1])
    alice.goto(f"{portal.base}/datasets/?origin=live")
    row = alice.locator(f"tr[data-dataset='{dataset}']")
    assert row.locator(".badge-live").is_visible()
    _shot(alice, "live-catalogue")
    results = portal.api("alice", f"/api/jobs/{session}/")["results"]
    assert "0-virtual-intensity" in {r["name"] for r in results}
    assert alice.errors == []


def test_a_viewer_sees_the_latest_complete_scan_beside_the_next_one(
    browser: Any,
    portal: Portal,
    simulators: Simulators,  # noqa: F811
    tmp_path: Path,
    contexts: list[Any],
) -> None:
    nav = (4, 4)
    frames = _merlin_detector(portal, simulators, tmp_path, nav, 20_000)
    ring = {"shape": "ring", **RING}
    body = {
        "detector": _django(
            portal, "from apps.acquisition.models import Detector; "
            "print(Detector.objects.get(name='merlin-e2e').pk)"
        ),
        "nav_shape": list(nav), "analyses": [{"analysis": "virtual", "params": ring}],
        "continuous": True, "share_with_groups": ["live-e2e"], "name": "e2e-continuous",
    }  # fmt: skip
    session = portal.api("alice", "/api/live/sessions/", body)["id"]
    bob = _page(browser, portal, contexts, "bob")
    bob.goto(f"{portal.base}/live/{session}/")
    bob.wait_for_function(
        """() => { const p = window.__livePage, done = p.images.image(0, "complete");
                   return done && p.panes.get(0).complete.image && p.state.counters.scan >= 1; }""",
        timeout=120_000,
    )
    shown = bob.evaluate("() => Array.from(window.__livePage.panes.get(0).complete.image.values)")
    np.testing.assert_allclose(np.array(shown).reshape(nav), _ring_image(frames, ring), rtol=1e-6)
    assert "scan " in bob.locator("#live-counters").inner_text()
    portal.api("alice", f"/api/live/sessions/{session}/stop/", {})
    bob.wait_for_selector("#live-end:not([hidden])", timeout=120_000)
    assert bob.errors == []
