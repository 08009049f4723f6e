"""The catalogue in a real Chromium: a scientist finds a scan by its tag and sees its
thumbnails (the mean frame and the annular dark field), in the list and on its page."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.browser.conftest import ROOT, Portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_SECONDS = 120  # the first job of the session also starts the dask workers


def _register(portal: Portal, folder: str, tags: list[str]) -> int:
    code = "import sys; from pathlib import Path; from apps.datasets.demo import write_demo; write_demo(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(portal.data / folder)], cwd=ROOT, check=True)
    body = {"name": folder, "path": str(portal.data / folder / "demo.json"), "tags": tags}
    return int(portal.api("alice", "/api/datasets/", body)["id"])


def _thumbnails(portal: Portal, dataset: int) -> dict[str, str]:
    portal.api("alice", f"/api/datasets/{dataset}/thumbnails/", {})
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        urls = portal.api("alice", f"/api/datasets/{dataset}/")["thumbnails"]
        if urls["mean"] and urls["adf"]:
            return urls
        time.sleep(0.5)
    raise AssertionError(f"dataset {dataset} has no thumbnails after {JOB_SECONDS} s")


def _loaded(page, selector: str) -> list[int]:
    """The natural widths of the images matching ``selector`` once they have loaded."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete)", arg=selector
    )
    return page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.naturalWidth)")


def test_a_tag_finds_the_scan_and_its_thumbnails_show(portal, page):
    wanted = _register(portal, "catalogue-sige", ["SiGe-2026", "strain"])
    other = _register(portal, "catalogue-gold", ["gold"])
    urls = _thumbnails(portal, wanted)

    page.goto(f"{portal.base}/datasets/")
    page.click("#catalogue-search summary")
    page.fill("input[name=tag]", "sige-2026")  # any case
    page.click("#catalogue-search button[type=submit]")
    page.wait_for_url(lambda url: "tag=sige-2026" in url)
    rows = page.eval_on_selector_all("tr[data-dataset]", "rs => rs.map(r => +r.dataset.dataset)")
    assert rows == [wanted] and other not in rows
    widths = _loaded(page, f"tr[data-dataset='{wanted}'] img.thumb")
    assert widths == [128, 64]  # the 128 x 128 mean frame; the 64 x 64 scan's ADF image
    sources = page.eval_on_selector_all(
        f"tr[data-dataset='{wanted}'] img.thumb", "imgs => imgs.map(i => i.getAttribute('src'))"
    )
    assert sources == [urls["mean"], urls["adf"]]

    page.click(f"tr[data-dataset='{wanted}'] a[href='/datasets/{wanted}/']")
    page.wait_for_url(f"**/datasets/{wanted}/")
    assert _loaded(page, "#thumbnails img") == [128, 64]
    assert page.inner_text("#tag-list").split() == ["SiGe-2026", "strain"]
    assert "ring" in page.inner_text("#thumbnails figcaption >> nth=1")
    assert page.errors == []
