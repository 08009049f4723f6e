"""The live page's pure modules in Chromium: livestate.js files the websocket's partial images
by analysis and scan (a late or older image never replaces a newer one; the latest complete
scan is kept beside the one building up), counts frames and measures the frame rate;
liveforms.js offers the analysis page's modes that can run live and gives the API's body."""

from __future__ import annotations

from typing import Any

import pytest

from apps.core.analyses import describe_analyses

pytestmark = pytest.mark.browser


def test_it_keeps_the_scan_building_up_and_the_latest_complete_one(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const m = await import("/static/js/livestate.js");
            const images = new m.LiveImages();
            images.choose(0, "intensity");
            const h = (scan, done, extra = {}) => ({
                analysis: 0, name: "intensity", scan, done, total: 16, shape: [4, 4], ...extra });
            const px = (v) => new Float32Array(16).fill(v);
            const slots = [
                images.take(h(0, 4), px(1)),
                images.take(h(0, 16), px(2)),     // scan 0 complete
                images.take(h(1, 8), px(3)),      // scan 1 building
                images.take(h(0, 12), px(9)),     // a late image of scan 0: dropped
                images.take({ ...h(1, 8), name: "other" }, px(7)), // not the shown result
                images.take({ ...h(2, 3), analysis: 1, name: "x" }, px(5)),
            ];
            const value = (slot, index = 0) => {
                const image = images.image(index, slot);
                return image && [image.scan, image.done, image.values[0], image.complete];
            };
            return { slots, building: value("building"), complete: value("complete"),
                     other: value("building", 1), none: images.image(7) };
        }"""
    )
    assert got["slots"] == ["building", "complete", "building", None, None, "building"]
    assert got["building"] == [1, 8, 3, False]
    assert got["complete"] == [0, 16, 2, True]
    assert got["other"] == [2, 3, 5, False]
    assert got["none"] is None


def test_it_keeps_a_late_complete_image_of_an_earlier_scan(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const { LiveImages } = await import("/static/js/livestate.js");
            const images = new LiveImages();
            const h = (scan, done) => ({ analysis: 0, name: "n", scan, done, total: 4, shape: [2, 2] });
            images.take(h(0, 2), new Float32Array(4));
            images.take(h(1, 1), new Float32Array(4).fill(1));  // the next scan started first
            const slot = images.take(h(0, 4), new Float32Array(4).fill(2));
            images.reset(0);
            return [slot, images.image(0, "building") === null];
        }"""
    )
    assert got == ["complete", True]


def test_it_measures_frames_per_second_across_scans(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const { FrameRate } = await import("/static/js/livestate.js");
            const rate = new FrameRate(2000);
            const first = rate.fps;
            rate.add(0, 0);
            rate.add(50, 10);
            const tooSoon = rate.fps;
            rate.add(1000, 500);
            const steady = rate.fps;
            rate.add(1500, 100);   // the next scan counts from 0 again: 100 more frames
            const acrossScans = rate.fps;
            for (let t = 2000; t <= 6000; t += 500) rate.add(t, 100 + (t - 1500) / 10);
            return { first, tooSoon, steady, acrossScans, windowed: rate.fps };
        }"""
    )
    assert got["first"] is None and got["tooSoon"] is None
    assert got["steady"] == pytest.approx(500.0)
    assert got["acrossScans"] == pytest.approx(600 / 1.5)
    assert got["windowed"] == pytest.approx(100.0)  # 50 frames per 500 ms in the last window


def test_it_counts_frames_from_every_message(js: Any) -> None:
    got = js.evaluate(
        """async () => {
            const m = await import("/static/js/livestate.js");
            let c = { frames: 0, total: 0, lost: 0, state: "", scan: null };
            const steps = [];
            c = m.countersFrom(c, { type: "status", progress: { done: 3, total: 64 } });
            steps.push({ ...c });
            c = m.countersFrom(c, { type: "partial", done: 40, total: 64, scan: 0 });
            steps.push({ ...c });
            c = m.countersFrom(c, { type: "status", live: { frames: 60, frames_expected: 64,
                lost_frames: 2, state: "receiving", scan: 1 } });
            steps.push({ ...c });
            return { steps, text: m.countersText(c, 812.4, { continuous: true }),
                     plain: m.countersText({ frames: 1024, total: 4096 }, null),
                     analyses: m.analysesOf({ live: { analyses: [
                         { analysis: "virtual", params: { shape: "ring" } },
                         { index: 5, analysis: "sum" }] } }) };
        }"""
    )
    steps = got["steps"]
    assert steps[0]["frames"] == 3 and steps[0]["total"] == 64
    assert steps[1]["frames"] == 40
    assert steps[2] == {"frames": 60, "total": 64, "lost": 2, "state": "receiving", "scan": 1}
    assert got["text"] == "60 / 64 frames · 2 lost · 812 fps · scan 2 · receiving"
    assert got["plain"] == "1,024 / 4,096 frames · 0 lost"
    assert got["analyses"] == [
        {"index": 0, "analysis": "virtual", "params": {"shape": "ring"}},
        {"index": 5, "analysis": "sum", "params": {}},
    ]


def test_the_live_forms_offer_the_modes_that_run_live(js: Any) -> None:
    got = js.evaluate(
        """async (analyses) => {
            const f = await import("/static/js/liveforms.js");
            const modes = f.liveModes(analyses);
            const root = document.createElement("div");
            document.body.append(root);
            const form = f.analysisForm(root, modes, { shapes: () => [[128, 128], [32, 32]] });
            const ring = form.body();
            root.querySelector("input[name=ro]").value = "40";
            root.querySelector("input[name=ro]").dispatchEvent(new Event("change"));
            const moved = form.body();
            form.setMode("com");
            return { widgets: [...new Set(modes.map((m) => m.widget))], ring, moved,
                     com: form.body(), shape: f.frameShape(null), given: f.frameShape([96, 64]) };
        }""",
        describe_analyses(),
    )
    assert "scan-point" not in got["widgets"] and "mask-upload" not in got["widgets"]
    assert "ring" in got["widgets"]
    assert got["ring"] == {
        "analysis": "virtual",
        "params": {"shape": "ring", "cx": 63.5, "cy": 63.5, "ri": 26, "ro": 51},
    }
    assert got["moved"]["params"]["ro"] == 40
    assert got["com"]["analysis"] == "com" and got["com"]["params"]["r"] == 21
    assert got["shape"] == [256, 256] and got["given"] == [96, 64]
