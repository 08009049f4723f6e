"""A plugin's analysis on the analysis page: in the menu, its form generated from its
declaration, a job run from that form whose result is shown (the example plugin, pip-installed
into a folder on the live portal's PYTHONPATH; tests/plugin_sites.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core.io.raw import write_sidecar
from tests.live_portal import Portal
from tests.plugin_sites import install_test_plugins, plugin_portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_MS = 120_000  # the first job also starts the dask workers
NAV, SIG = (5, 6), (16, 20)


@pytest.fixture(scope="module")
def plugins_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    sites = install_test_plugins(tmp_path_factory.mktemp("plugins"))
    with plugin_portal(tmp_path_factory.mktemp("portal"), sites) as portal:
        yield portal


@pytest.fixture(scope="module")
def scan(plugins_portal: Portal) -> tuple[int, np.ndarray]:
    """alice's small dataset, and its frames."""
    data = np.random.default_rng(5).poisson(6, size=NAV + SIG).astype("<u2")
    folder = plugins_portal.data / "scan"
    folder.mkdir()
    data.tofile(folder / "scan.raw")
    meta = {"dtype": "<u2", "nav_shape": list(NAV), "sig_shape": list(SIG), "path": "scan.raw"}
    write_sidecar(folder / "scan.json", meta | {"offset": 0})
    body = {"name": "scan", "path": str(folder / "scan.json")}
    return int(plugins_portal.api("alice", "/api/datasets/", body)["id"]), data


@pytest.fixture
def page(browser: Any, plugins_portal: Portal) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    plugins_portal.login(page, "alice")
    yield page
    context.close()


def _finished_job(page: Any, analysis: str) -> dict[str, Any]:
    page.wait_for_function(
        """(name) => {
            const s = window.__analysisPage && window.__analysisPage.state;
            return s && s.job && s.job.analysis === name && s.job.finalShown;
        }""",
        arg=analysis,
        timeout=JOB_MS,
    )
    return page.evaluate("() => window.__analysisPage.state.job")


def test_the_plugin_form_runs_a_job_and_shows_its_result(
    page: Any, plugins_portal: Portal, scan: tuple[int, np.ndarray], tmp_path: Path
) -> None:
    dataset, data = scan
    page.goto(f"{plugins_portal.base}/datasets/{dataset}/analyze/")
    options = page.eval_on_selector_all("#analysis-select option", "os => os.map(o => o.value)")
    assert {"bright_pixels", "hot_pixels"} <= set(options)
    assert "gpu_sum" not in options

    page.select_option("#analysis-select", "hot_pixels")
    fraction = page.locator("#params input[name=min_fraction]")
    assert (fraction.get_attribute("min"), fraction.get_attribute("max")) == ("0", "1")
    assert fraction.get_attribute("placeholder") == "0.9"

    page.select_option("#analysis-select", "bright_pixels")
    help_line = page.inner_text("#mode-help")
    assert help_line.endswith("(plugin portal-plugin-example 0.1.0)")
    threshold = page.locator("#params input[name=threshold]")
    assert threshold.get_attribute("required") is not None
    help_text = threshold.evaluate("input => input.closest('label').title")
    assert help_text.startswith("Pixels with a value strictly above this count.")
    threshold.fill("8")
    threshold.press("Enter")
    page.click("#run")
    job = _finished_job(page, "bright_pixels")
    assert job["params"] == {"threshold": 8}
    assert page.input_value("#result-select") == "count"
    api_job = plugins_portal.api("alice", f"/api/jobs/{job['id']}/")
    assert api_job["provenance"]["distribution"] == "portal-plugin-example"
    # The scan view shows the count map: its histogram spans the numpy reference's range.
    expected = (data > 8).sum(axis=(2, 3))
    shown = [float(page.inner_text(f"#scan-display .dc-{end}")) for end in ("min", "max")]
    assert shown == [expected.min(), expected.max()]
