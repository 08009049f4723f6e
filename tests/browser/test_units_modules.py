"""The display's pure modules in Chromium: the value mapping and its ticks (mapping.js), the
scale bar's length (scalebar.js), physical units (units.js) and which tick labels fit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import describe_analyses
from apps.core.optics import electron_wavelength

pytestmark = pytest.mark.browser


def test_linear_ticks_are_round_values_where_the_scale_puts_them(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const m = await import("/static/js/mapping.js");
            const mapping = m.valueMapping({ lo: 0.3, hi: 9.7, log: false });
            return { ticks: m.ticks(mapping), index: [0.3, 5, 9.7, 100].map((v) => m.colourIndex(mapping, v)) };
        }"""
    )
    assert [t["value"] for t in got["ticks"]] == [2, 4, 6, 8]
    for tick in got["ticks"]:
        assert tick["t"] == pytest.approx((tick["value"] - 0.3) / 9.4)
    assert got["index"] == [0, round(4.7 / 9.4 * 255), 255, 255]


def test_log_ticks_sit_where_the_log_scale_puts_them(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const m = await import("/static/js/mapping.js");
            const mapping = m.valueMapping({ lo: 2, hi: 5002, log: true });
            return m.ticks(mapping).map((t) => [t.value, t.t, mapping.invert(t.t)]);
        }"""
    )
    assert len(got) == 4
    for value, t, back in got:
        assert t == pytest.approx(np.log1p(value - 2) / np.log1p(5000))
        assert back == pytest.approx(value)
        assert float(f"{value:.2g}") == value  # two significant digits
    assert [v for v, _, _ in got] == sorted(v for v, _, _ in got)


@pytest.mark.parametrize(
    ("per_pixel", "zoom", "value", "length"),
    [
        (2.0, 8.0, 20, 80.0),  # 4 screen px per nm: 20 nm is 80 px
        (0.25, 4.0, 5, 80.0),  # 16 px per mrad: 5 mrad
        (2.0, 0.5, 500, 125.0),  # zoomed out: 500 nm
    ],
)
def test_the_scale_bar_is_a_round_length_near_100_px(
    js: Any,
    per_pixel: float,
    zoom: float,
    value: float,
    length: float,
) -> None:
    bar = js.evaluate(
        """async ([perPixel, zoom]) => {
            const { chooseScaleBar } = await import("/static/js/scalebar.js");
            return chooseScaleBar(perPixel, "nm", zoom);
        }""",
        [per_pixel, zoom],
    )
    assert (bar["value"], bar["length"]) == (value, pytest.approx(length))


def test_units_turn_pixels_into_lengths_and_angles(js: Any) -> None:
    got = js.evaluate(
        """async (analyses) => {
            const u = await import("/static/js/units.js");
            const size = { scan: { y: 2, x: 2, units: "nm" }, detector: { y: 0.25, x: 0.25, units: "mrad" } };
            const com = analyses.find((a) => a.name === "com");
            const result = (name) => com.results.find((r) => r.name === name);
            const shift = u.valueUnit(result("x"), size, "<u2");
            return {
                lengths: [u.formatQuantity(1500, "nm"), u.formatQuantity(0.5, "nm"), u.formatQuantity(3.25, "mrad")],
                shift: u.formatWithUnit(1.5, shift),
                caption: u.unitCaption(shift),
                divergence: u.valueUnit(result("divergence"), size, "<u2").physical,
                uncalibrated: u.valueUnit(result("x"), { scan: null, detector: null }, "<u2"),
                counts: [u.valueUnit(null, size, "<u2").label, u.valueUnit(null, size, "<f4").label],
                scan: u.scanReadout({ x: 3, y: 1, value: 7 }, size.scan, u.valueUnit(null, size, "<u2")),
                detector: u.detectorReadout({ x: 67, y: 68, value: 2 }, size.detector, null, { cy: 64, cx: 64, label: "c" }),
                params: u.physicalParams(com.params, { cx: 60, cy: 60, r: 14, ri: 2 }, size.detector),
                phase: u.valueUnit(result("icom"), size, "<u2").physical,
                phaseRad: u.valueUnit(result("icom"), size, "<u2", {
                    beam_energy: 200, detector_pixel: 0.25, scan_step: 2,
                }).physical,
                wavelength: u.electronWavelength(300),
            };
        }""",
        describe_analyses(),
    )
    assert got["lengths"] == ["1.5 µm", "0.5 nm", "3.25 mrad"]
    assert got["shift"] == "1.5 px = 0.375 mrad"
    assert got["caption"] == "px (1 px = 0.25 mrad)"
    assert got["divergence"] == {"units": "mrad per nm", "scale": 0.125}
    assert got["uncalibrated"] == {"label": "px", "physical": None}
    assert got["counts"] == ["counts", "data units"]
    assert got["scan"] == "y 1, x 3 (2 nm, 6 nm): 7 counts"
    assert got["detector"] == "y 68, x 67 (1.25 mrad from c): 2"
    assert got["params"] == "r 14 px = 3.5 mrad · ri 2 px = 0.5 mrad"
    # com's phases: mrad × nm, or rad (2π/λ · angle · length) once the beam energy is known
    assert got["phase"] == {"units": "mrad × nm", "scale": 0.5}
    assert got["phaseRad"]["units"] == "rad"
    want = 2 * math.pi / electron_wavelength(200.0) * 0.25e-3 * 2
    assert got["phaseRad"]["scale"] == pytest.approx(want, rel=1e-6)
    assert got["wavelength"] == pytest.approx(electron_wavelength(300.0), rel=1e-6)


def test_parallax_gives_its_shifts_and_defocus_in_nm(js: Any) -> None:
    got = js.evaluate(
        """async (analyses) => {
            const u = await import("/static/js/units.js");
            const size = { scan: { y: 2, x: 2, units: "nm" }, detector: { y: 0.25, x: 0.25, units: "mrad" } };
            const reciprocal = { scan: size.scan, detector: { y: 0.1, x: 0.1, units: "1/nm" } };
            const parallax = analyses.find((a) => a.name === "parallax");
            const result = (name) => parallax.results.find((r) => r.name === name);
            return {
                shift: u.formatWithUnit(1.5, u.valueUnit(result("shift_y"), size, "<u2")),
                defocus: u.formatWithUnit(0.5, u.valueUnit(result("defocus"), size, "<u2")),
                reciprocal: u.valueUnit(result("defocus"), reciprocal, "<u2").physical,
            };
        }""",
        describe_analyses(),
    )
    assert got["shift"] == "1.5 scan px = 3 nm"
    # Δf = D step / θ_px = 0.5 x 2 nm / 0.25 mrad
    assert got["defocus"] == "0.5 scan px per px = 4 µm"
    assert got["reciprocal"] is None  # 1/nm detector pixels: no angle without the energy


def test_tick_labels_that_would_overlap_are_left_out(js: Any) -> None:
    kept = js.evaluate(
        """async () => {
            const { fittingLabels } = await import("/static/js/colorbar.js");
            const labels = [
                { text: "lo", t: 0, align: "start" },
                { text: "a", t: 0.05, align: "middle" },
                { text: "b", t: 0.3, align: "middle" },
                { text: "c", t: 0.35, align: "middle" },
                { text: "d", t: 0.97, align: "middle" },
                { text: "hi", t: 1, align: "end" },
            ];
            // every label is 20 px wide on a 200 px bar
            return fittingLabels(labels, 200, () => 20).map((l) => l.text);
        }"""
    )
    assert kept == ["lo", "b", "hi"]


def test_the_radial_profile_is_plotted_against_radii_in_mrad(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const { xAxis } = await import("/static/js/resultplot.js");
            const params = { ri: 2, ro: 10, bins: 4 };
            return [
                xAxis("bins", 4, params, { x: 0.25, y: 0.25, units: "mrad" }),
                xAxis("bins", 4, params, null),
            ];
        }"""
    )
    # rings 2-4, 4-6, 6-8, 8-10 px: middles 3, 5, 7, 9 px of 0.25 mrad
    assert got[0] == {"x": [0.75, 1.25, 1.75, 2.25], "label": "radius (mrad)"}
    assert got[1] == {"x": [3, 5, 7, 9], "label": "radius (px)"}
