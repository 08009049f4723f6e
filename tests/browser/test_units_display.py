"""Units and an honest display on the analysis page, in a real Chromium against a live portal.

At 1280 x 720 and 1920 x 1080: the colour bar's limits and ticks are the mapping applied to the
pixels (read back from the canvas), the scale bars are as long as the calibration says, read-outs
give nm and mrad, and an exported PNG holds the screen's pixels. No page logs an error or fails
a request. With UPDATE_DOC_IMAGES=1 the screenshots of docs/user-guide.md are written again.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import ARTIFACTS, ROOT, Portal
from tests.browser.test_analysis_page import _wait_finished

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_MS = 60_000
VIEWPORTS = [(1280, 720), (1920, 1080)]
DOC_IMAGES = ROOT / "docs" / "images"
SCAN_NM, PIXEL_MRAD = 2.0, 0.25  # the calibration of demo.h5 (apps/datasets/demo.py)


@pytest.fixture(scope="module")
def dataset_id(portal: Portal) -> int:
    """demo.h5, whose NeXus axes calibrate it, registered by alice."""
    path = str(portal.data / "demo" / "demo.h5")
    created = portal.api("alice", "/api/datasets/", {"name": "demo (NeXus)", "path": path})
    assert created["pixel_size"]["scan"] == {"y": SCAN_NM, "x": SCAN_NM, "units": "nm"}
    return int(created["id"])


@pytest.fixture(params=VIEWPORTS, ids=lambda v: f"{v[0]}x{v[1]}")
def page(request: Any, browser: Any, portal: Portal) -> Iterator[Any]:
    """alice's page at the viewport; at the end, no console error and no failed request."""
    width, height = request.param
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: m.type == "error" and problems.append(f"console: {m.text} {m.location['url']}"),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # a request the page itself dropped (an image replaced or left behind) did not fail
    page.on(
        "requestfailed",
        lambda r: (
            r.failure != "net::ERR_ABORTED" and problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    portal.login(page, "alice")
    page.viewport_name = f"{width}x{height}"
    yield page
    context.close()
    # a favicon the browser asks for on its own is not the page's request (issue 21, point 9)
    assert [p for p in problems if "favicon.ico" not in p] == []


def _open(page: Any, portal: Portal, dataset_id: int, analysis: str = "virtual:ring") -> None:
    page.goto(f"{portal.base}/datasets/{dataset_id}/analyze/")
    before = _wait_finished(page)
    if page.input_value("#analysis-select") != analysis:
        page.select_option("#analysis-select", analysis)
        _wait_finished(page, after_job=before)
    page.wait_for_function("() => window.__analysisPage.state.mean !== null", timeout=JOB_MS)


def _screen(page: Any, view: str) -> dict[str, Any]:
    """What ``view`` shows: its values, the canvas pixels, transform, colour bar and LUT."""
    data = page.evaluate(
        """async (name) => {
            const { COLORMAPS } = await import('/static/js/colormap.js');
            const v = window.__analysisPage[name];
            const c = v.canvas;
            const bar = v.colourBar.root;
            // the image as drawn, without the shapes a tool draws over it
            const tool = v.tool;
            v.tool = null;
            v.draw();
            const all = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            v.tool = tool;
            v.draw();
            const t = v.transform(), dpr = window.devicePixelRatio;
            const { width, height } = v.image;
            const centres = [];  // RGBA at the centre of every image pixel
            for (let y = 0; y < height; y++) {
                const cy = Math.floor((t.oy + (y + 0.5) * t.scale) * dpr);
                for (let x = 0; x < width; x++) {
                    const o = (cy * c.width + Math.floor((t.ox + (x + 0.5) * t.scale) * dpr)) * 4;
                    centres.push(all[o], all[o + 1], all[o + 2], all[o + 3]);
                }
            }
            return {
                values: Array.from(v.image.values), width, height,
                centres, canvas: [c.width, c.height], dpr,
                transform: v.transform(), scale: v.scale,
                bar: { ...bar.dataset, hidden: bar.hidden },
                scaleBar: v.overlays.length ? v.overlays[0].last.box : null,
                ticks: Array.from(bar.querySelectorAll('.cb-tick')).map((t) => ({
                    text: t.textContent, value: Number(t.dataset.value), t: Number(t.dataset.t)})),
                caption: bar.title, unit: bar.querySelector('.cb-unit').textContent,
                gradient: Array.from(bar.querySelector('.cb-gradient').getContext('2d')
                    .getImageData(0, 0, 256, 1).data),
                lut: Array.from(COLORMAPS[bar.dataset.cmap]),
            };
        }""",
        view,
    )
    data["centres"] = np.array(data["centres"], np.uint8).reshape(data["height"], data["width"], 4)
    data["values"] = np.array(data["values"], np.float64).reshape(data["height"], data["width"])
    data["lut"] = np.array(data["lut"], np.int64).reshape(256, 3)
    return data


def _pixel_centres(screen: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates (device px) of every image pixel's centre."""
    t, dpr = screen["transform"], screen["dpr"]
    ys, xs = np.mgrid[: screen["height"], : screen["width"]]
    cx = np.floor((t["ox"] + (xs + 0.5) * t["scale"]) * dpr).astype(int)
    cy = np.floor((t["oy"] + (ys + 0.5) * t["scale"]) * dpr).astype(int)
    return cy, cx


def _off_the_scale_bar(screen: dict[str, Any], cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    """True where a pixel centre is clear of the scale bar and its label (bottom right)."""
    box = screen["scaleBar"]
    if box is None:
        return np.ones(cy.shape, bool)
    return (cy < box["y"] - 2 * box["font"]) | (cx < box["x"] - 2 * box["font"])


def _colour_indices(rgb: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The LUT index of each colour (the nearest entry; exact for a colour of the map)."""
    flat = rgb.reshape(-1, 3).astype(np.int64)
    distance = ((flat[:, None, :] - lut[None, :, :]) ** 2).sum(axis=2)
    return distance.argmin(axis=1).reshape(rgb.shape[:-1])


def _expected_indices(values: np.ndarray, lo: float, hi: float, log: bool) -> np.ndarray:
    if log:
        t = np.log1p(np.maximum(0, values - lo)) / np.log1p(max(hi - lo, 1e-30))
    else:
        t = (values - lo) / ((hi - lo) or 1)
    return np.floor(np.clip(t, 0, 1) * 255 + 0.5).astype(int)  # Math.round: halves go up


def _check_bar_is_the_mapping(screen: dict[str, Any], percentiles: tuple[float, float]) -> None:
    bar = screen["bar"]
    lo, hi, log = float(bar["lo"]), float(bar["hi"]), bar["scale"] == "log"
    values = screen["values"]
    finite = values[np.isfinite(values)]
    # the limits are the contrast percentiles of the image's values
    np.testing.assert_allclose([lo, hi], np.percentile(finite, percentiles), rtol=1e-5)
    # every pixel on the canvas has the colour the bar gives its value
    cy, cx = _pixel_centres(screen)
    rgb = screen["centres"][..., :3].astype(np.int64)
    shown = _colour_indices(rgb, screen["lut"])
    expected = _expected_indices(values, lo, hi, log)
    clear = _off_the_scale_bar(screen, cy, cx)
    assert clear.mean() > 0.9
    rgb, shown, expected, values = rgb[clear], shown[clear], expected[clear], values[clear]
    # the same colour (neighbouring entries of a map may be equal), but for values that round
    # the other way in float32 on the page than in float64 here
    same = (rgb == screen["lut"][expected]).all(axis=1)
    assert same.mean() > 0.999
    assert np.abs(shown - expected).max() <= 1
    # saturation: below the bar's start the first colour, above its end the last
    assert (shown[values <= lo] == 0).all() and (shown[values >= hi] == 255).all()
    assert (values < lo).any() and (values > hi).any()
    # the bar's colours are the map's, in order, and its ends are labelled with the limits
    gradient = np.array(screen["gradient"]).reshape(256, 4)[:, :3]
    np.testing.assert_array_equal(gradient, screen["lut"])
    ends = screen["ticks"][0], screen["ticks"][-1]
    assert ends[0]["text"].startswith("≤ ") and ends[1]["text"].startswith("≥ ")
    assert (ends[0]["value"], ends[1]["value"]) == (lo, hi)
    assert float(ends[0]["text"][2:]) == pytest.approx(lo, rel=1e-3, abs=1e-6)
    assert float(ends[1]["text"][2:]) == pytest.approx(hi, rel=1e-3, abs=1e-6)
    # inner ticks sit where their values land under the same scale, in order, labelled
    inner = screen["ticks"][1:-1]
    assert inner, screen["ticks"]
    for tick in inner:
        assert float(tick["text"]) == pytest.approx(tick["value"], rel=1e-3)
        assert tick["t"] == pytest.approx(float(_expected_t(tick["value"], lo, hi, log)), abs=1e-9)
    assert [t["t"] for t in screen["ticks"]] == sorted(t["t"] for t in screen["ticks"])


def _expected_t(value: float, lo: float, hi: float, log: bool) -> float:
    if log:
        return float(np.log1p(max(0.0, value - lo)) / np.log1p(max(hi - lo, 1e-30)))
    return (value - lo) / (hi - lo)


def _set_contrast(page: Any, pane: str, lo: float, hi: float, *, log: bool | None = None) -> None:
    controls = page.locator(f"#{pane}-display")
    if log is not None and controls.locator(".dc-log").is_checked() != log:
        controls.locator(".dc-log").focus()
        page.keyboard.press("Space")  # a key press: no click can land on a shifting layout
        assert controls.locator(".dc-log").is_checked() == log
    controls.locator(".dc-lo").fill(str(lo))
    controls.locator(".dc-lo").dispatch_event("change")
    controls.locator(".dc-hi").fill(str(hi))
    controls.locator(".dc-hi").dispatch_event("change")


def test_the_colour_bar_shows_the_limits_applied_to_the_pixels(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    _open(page, portal, dataset_id)
    _check_bar_is_the_mapping(_screen(page, "scanView"), (1, 99))
    _set_contrast(page, "scan", 30, 70)
    screen = _screen(page, "scanView")
    _check_bar_is_the_mapping(screen, (30, 70))
    assert screen["caption"] == "viridis, linear, contrast 30–70 %, counts"
    assert screen["unit"] == "counts"
    _doc_shot(page.locator("#scan-pane"), f"units-colourbar-contrast-{page.viewport_name}")
    # the detector: inferno, log by default; then log on the scan image too
    detector = _screen(page, "detectorView")
    assert (detector["bar"]["cmap"], detector["bar"]["scale"]) == ("inferno", "log")
    _check_bar_is_the_mapping(detector, (1, 99))
    _set_contrast(page, "scan", 5, 95, log=True)
    _check_bar_is_the_mapping(_screen(page, "scanView"), (5, 95))


def _scale_bar(page: Any, view: str) -> dict[str, Any]:
    return page.evaluate(
        """(name) => {
            const v = window.__analysisPage[name];
            v.draw();
            const bar = v.overlays[0].last;
            const c = v.canvas;
            const row = Math.round(bar.box.y + bar.box.h / 2);
            const px = c.getContext('2d').getImageData(0, row, c.width, 1).data;
            return { ...bar, scale: v.scale, dpr: window.devicePixelRatio,
                     row: Array.from(px), label: bar.label };
        }""",
        view,
    )


def _white_run(row: list[int]) -> int:
    """The longest run of pure white pixels in an RGBA row."""
    rgba = np.array(row).reshape(-1, 4)
    white = (rgba[:, :3] == 255).all(axis=1)
    best = run = 0
    for w in white:
        run = run + 1 if w else 0
        best = max(best, run)
    return best


@pytest.mark.parametrize(
    ("view", "size", "units"),
    [("scanView", SCAN_NM, "nm"), ("detectorView", PIXEL_MRAD, "mrad")],
)
def test_the_scale_bar_is_as_long_as_the_calibration(
    page: Any, portal: Portal, dataset_id: int, view: str, size: float, units: str
) -> None:
    _open(page, portal, dataset_id)
    for zoom in (None, -400):  # fitted, then zoomed in with the wheel
        if zoom is not None:
            box = page.locator(f"#{view.replace('View', '')}-view canvas").bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.wheel(0, zoom)
        bar = _scale_bar(page, view)
        assert bar["units"] == units and bar["label"].endswith(units)
        assert float(bar["label"].split()[0]) == bar["value"]
        assert str(bar["value"])[0] in "125"  # a round length
        # length on screen = length / pixel size * screen pixels per image pixel
        expected = bar["value"] / size * bar["scale"] * bar["dpr"]
        assert abs(_white_run(bar["row"]) - expected) <= 1.0, (bar["value"], expected)
        assert 30 < expected / bar["dpr"] < 260  # readable: neither a dot nor the whole image


def test_read_outs_give_nm_and_mrad(page: Any, portal: Portal, dataset_id: int) -> None:
    _open(page, portal, dataset_id, "com")
    page.select_option("#result-select", "x")
    # shown once its label names it: until its .npy is in, the view holds the preview (px too)
    page.wait_for_function(
        "() => document.getElementById('scan-source').textContent.startsWith('x of job')"
    )
    assert page.evaluate("() => window.__analysisPage.scanView.valueUnit.label") == "px"
    box = page.locator("#scan-view canvas").bounding_box()
    t = page.evaluate("() => window.__analysisPage.scanView.transform()")
    # the centre of scan pixel (y 10, x 20)
    page.mouse.move(box["x"] + t["ox"] + 20.5 * t["scale"], box["y"] + t["oy"] + 10.5 * t["scale"])
    text = page.inner_text("#scan-view .imageview-readout")
    value = page.evaluate("() => window.__analysisPage.scanView.valueAt(20, 10)")
    assert text.startswith(f"y 10, x 20 ({10 * SCAN_NM:g} nm, {20 * SCAN_NM:g} nm): ")
    shift_px, shift_mrad = text.split(": ")[1].split(" = ")
    assert float(shift_px.removesuffix(" px")) == pytest.approx(value, rel=1e-3, abs=1e-4)
    assert shift_mrad.endswith(" mrad")
    assert float(shift_mrad.removesuffix(" mrad")) == pytest.approx(
        value * PIXEL_MRAD, rel=1e-3, abs=1e-4
    )
    assert page.inner_text("#scan-display .cb-unit") == f"px (1 px = {PIXEL_MRAD:g} mrad)"
    # the detector: the angle from the COM disk's centre; its radius in mrad
    params = page.evaluate("() => window.__analysisPage.state.geometry.com")
    physical = page.inner_text("#params-physical")
    assert f"r {params['r']:g} px = {params['r'] * PIXEL_MRAD:g} mrad" in physical
    box = page.locator("#detector-view canvas").bounding_box()
    t = page.evaluate("() => window.__analysisPage.detectorView.transform()")
    y, x = round(params["cy"]) + 8, round(params["cx"])
    page.mouse.move(
        box["x"] + t["ox"] + (x + 0.5) * t["scale"], box["y"] + t["oy"] + (y + 0.5) * t["scale"]
    )
    text = page.inner_text("#detector-view .imageview-readout")
    r = np.hypot(y - params["cy"], x - params["cx"]) * PIXEL_MRAD
    assert f"y {y}, x {x} ({float(f'{r:.4g}'):g} mrad from the shape's centre): " in text
    assert text.endswith(" counts")
    page.select_option("#result-select", "field")
    page.wait_for_selector("#wheel-legend", state="visible")
    note = page.inner_text("#scan-display .cb-unit")
    assert (
        note.startswith("colour: direction of the shift; brightness: its length") and "mrad" in note
    )
    _doc_shot(page.locator(".an-grid"), f"units-com-field-{page.viewport_name}")


def _download(page: Any, pane: str, fmt: str, width: str) -> bytes:
    if page.get_attribute(f"#{pane}-display .dc-export", "open") is None:
        page.click(f"#{pane}-display .dc-export summary")
    page.select_option(f"#{pane}-display .dc-width", width)
    with page.expect_download() as info:
        page.click(f"#{pane}-display .dc-{fmt}")
    return Path(info.value.path()).read_bytes()


@pytest.mark.parametrize("width", ["screen", "800"])
def test_the_exported_png_holds_the_screens_pixels(
    page: Any, portal: Portal, dataset_id: int, width: str
) -> None:
    _open(page, portal, dataset_id)
    _set_contrast(page, "scan", 10, 90)
    screen = _screen(page, "scanView")
    png = np.asarray(Image.open(io.BytesIO(_download(page, "scan", "png", width))).convert("RGBA"))
    h, w = screen["height"], screen["width"]
    image_w = png.shape[1]
    if width == "800":
        assert image_w == 800
    else:
        assert image_w == round(w * screen["scale"] * screen["dpr"])
    image_h = round(image_w * h / w)
    # the image: every pixel's centre has the colour it has on screen
    cy, cx = _pixel_centres(screen)
    on_screen = screen["centres"][..., :3]
    ys, xs = np.mgrid[:h, :w]
    py = np.floor((ys + 0.5) * image_h / h).astype(int)
    px = np.floor((xs + 0.5) * image_w / w).astype(int)
    exported = png[py, px, :3]
    # the scale bar and its label cover a corner of both; the rest is equal
    bar_free = _off_the_scale_bar(screen, cy, cx) & ((py < image_h * 0.8) | (px < image_w * 0.6))
    assert bar_free.mean() > 0.8
    np.testing.assert_array_equal(exported[bar_free], on_screen[bar_free])
    # below the image: the colour bar with the map's colours in order, from lo to hi
    assert png.shape[0] > image_h + 20
    strip = png[image_h:, :, :3].astype(np.int64)
    rows = [r for r in range(strip.shape[0]) if len({tuple(c) for c in strip[r, ::8]}) > 20]
    assert rows, "no colour bar below the image"
    middle = strip[rows[len(rows) // 2]]
    u = max(1, image_w / 500)  # imageexport.js: the bar spans the width less 24 u each side
    inside = middle[round(26 * u) : image_w - round(26 * u)]
    indices = _colour_indices(inside[:, None, :], screen["lut"]).ravel()
    assert indices[0] <= 4 and indices[-1] >= 251 and (np.diff(indices) >= 0).all()
    if width == "800":
        _doc_image(png, "units-export")


def test_the_exported_svg_holds_the_bars_and_labels(
    page: Any, portal: Portal, dataset_id: int
) -> None:
    _open(page, portal, dataset_id)
    svg = ET.fromstring(_download(page, "scan", "svg", "1600"))  # noqa: S314 - the page's own file
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.get("width") == "1600"
    texts = [t.text for t in svg.iterfind(".//s:text", ns)]
    labels = page.evaluate(
        "() => Array.from(document.querySelectorAll('#scan-display .cb-tick')).map(t => t.textContent)"
    )
    assert all(label in texts for label in labels)
    assert any(t and t.endswith(" nm") for t in texts)  # the scale bar
    assert texts[-1] == page.get_attribute("#scan-display .colorbar", "title")
    images = svg.findall(".//s:image", ns)
    assert len(images) == 2 and all(
        i.get("href").startswith("data:image/png;base64,") for i in images
    )


def test_the_dataset_page_takes_a_calibration(page: Any, portal: Portal) -> None:
    created = portal.api(
        "alice",
        "/api/datasets/",
        {"name": "typed in", "path": str(portal.data / "demo" / "demo.json")},
    )
    page.goto(f"{portal.base}/datasets/{created['id']}/")
    assert "scan step not calibrated" in page.inner_text("#pixel-size")
    page.fill("input[name=scan_step]", "-3")
    page.click("#calibration button[type=submit]")
    assert "The scan step must be a positive number, got -3.0." in page.inner_text("#calibration")
    page.fill("input[name=scan_step]", "15")
    page.select_option("select[name=scan_units]", "Å")
    page.fill("input[name=detector_step]", "0.5")
    page.select_option("select[name=detector_units]", "mrad")
    page.click("#calibration button[type=submit]")
    page.wait_for_selector("text=Saved the calibration")
    assert page.inner_text("#pixel-size") == "scan step 1.5 nm; detector pixel 0.5 mrad"
    _doc_shot(page.locator("#calibration"), f"units-calibration-form-{page.viewport_name}")


# ---------------------------------------------------------------- screenshots for the guide


def _doc_shot(locator: Any, name: str) -> None:
    """A screenshot into test-artifacts/, and with UPDATE_DOC_IMAGES=1 into docs/images/."""
    ARTIFACTS.mkdir(exist_ok=True)
    data = locator.screenshot()
    (ARTIFACTS / f"{name}.png").write_bytes(data)
    if name.endswith("-1280x720"):  # the guide shows the laptop screen
        _doc_image(
            np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), name.removesuffix("-1280x720")
        )


def _doc_image(pixels: np.ndarray, name: str) -> None:
    if os.environ.get("UPDATE_DOC_IMAGES") != "1":
        return
    DOC_IMAGES.mkdir(exist_ok=True)
    image = Image.fromarray(pixels[..., :3])
    if image.width > 900:
        image = image.resize((900, round(image.height * 900 / image.width)), Image.LANCZOS)
    # a palette of 128 colours keeps the guide's images small
    image.quantize(128, dither=Image.Dither.NONE).save(DOC_IMAGES / f"{name}.png", optimize=True)
