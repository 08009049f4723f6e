"""The example plugin (examples/portal-plugin-example), pip-installed as staff would, used
through ``manage.py analyze`` and a live portal (API, OpenAPI, jobs on dask, downloads, the
status page), beside a plugin that fails on import.

Both run in their own processes with ``PYTHONPATH`` on the installed folder: importlib.metadata
finds the plugins there, the shared venv stays untouched.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.io.raw import write_sidecar
from tests.live_portal import Portal
from tests.plugin_sites import (
    BROKEN_ERROR,
    EXAMPLE_PACKAGE,
    install_test_plugins,
    package_sha256,
    plugin_env,
    plugin_portal,
)
from tests.processes import manage

pytestmark = pytest.mark.slow

NAV, SIG = (6, 7), (20, 24)
THRESHOLD = 7
JOB_SECONDS = 120  # the first job also starts the dask workers


def frames() -> np.ndarray:
    """Poisson frames with a bright column (hot pixels) and a scan gradient."""
    rng = np.random.default_rng(11)
    data = rng.poisson(5, size=NAV + SIG).astype("<u2")
    data[..., 3] += 40
    data += np.arange(np.prod(NAV), dtype="<u2").reshape(NAV)[..., None, None] // 8
    return data


def write_scan(folder: Path, data: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data.tofile(folder / "scan.raw")
    meta = {"dtype": "<u2", "nav_shape": list(NAV), "sig_shape": list(SIG), "path": "scan.raw"}
    write_sidecar(folder / "scan.json", meta | {"offset": 0})
    return folder / "scan.json"


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return install_test_plugins(tmp_path_factory.mktemp("plugins"))


def test_the_example_installs_as_a_distribution_with_its_entry_points(sites) -> None:
    [info] = sites["example"].glob("portal_plugin_example-*.dist-info")
    text = (info / "entry_points.txt").read_text()
    assert "[libertem_portal.analyses]" in text
    assert "bright_pixels = portal_plugin_example.bright:BrightPixelsAnalysis" in text


def test_manage_analyze_runs_the_plugins_like_numpy(sites, tmp_path: Path) -> None:
    data = frames()
    path = write_scan(tmp_path / "scan", data)
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), **plugin_env(sites)}
    env.pop("DATABASE_URL", None)
    out = tmp_path / "bright.npz"
    line = manage(
        env, "analyze", str(path), "--analysis", "bright_pixels",
        "--param", f"threshold={THRESHOLD}", "--out", str(out), "--quiet",
    )  # fmt: skip
    report = json.loads(line.strip().splitlines()[-1])
    with np.load(out) as got:
        np.testing.assert_array_equal(got["count"], (data > THRESHOLD).sum(axis=(2, 3)))
    assert report["provenance"] == {
        "source": "plugin",
        "version": "0.1.0",
        "distribution": "portal-plugin-example",
        "sha256": package_sha256(sites["example"] / EXAMPLE_PACKAGE),
        "entry_point": "bright_pixels = portal_plugin_example.bright:BrightPixelsAnalysis",
    }

    roi = np.zeros(NAV, dtype=bool)
    roi[1:4, 2:6] = True
    np.save(tmp_path / "roi.npy", roi)
    out = tmp_path / "hot.npz"
    manage(
        env, "analyze", str(path), "--analysis", "hot_pixels", "--roi", str(tmp_path / "roi.npy"),
        "--param", f"threshold={THRESHOLD}", "--param", "min_fraction=0.75",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    fraction = (data[roi] > THRESHOLD).mean(axis=0)
    with np.load(out) as got:
        np.testing.assert_allclose(got["fraction"], fraction, rtol=1e-15)
        np.testing.assert_array_equal(got["hot"], (fraction >= 0.75).astype(float))
        assert got["hot"][:, 3].all() and got["hot"].sum() < SIG[0] * 2  # the bright column


@pytest.fixture(scope="module")
def portal(sites, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with plugin_portal(tmp_path_factory.mktemp("portal"), sites) as portal:
        yield portal


def fetch(portal: Portal, user: str, path: str) -> bytes:
    request = urllib.request.Request(  # noqa: S310 (the test server's http address)
        portal.base + path, headers={"Authorization": f"Token {portal.tokens[user]}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.read()


def finished_job(portal: Portal, body: dict[str, Any]) -> dict[str, Any]:
    job = portal.api("alice", "/api/jobs/", body)
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        job = portal.api("alice", f"/api/jobs/{job['id']}/")
        if job["status"] in ("finished", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job['id']} did not finish: {job}")


def test_the_api_lists_the_plugins_with_their_declarations(portal: Portal) -> None:
    listed = {a["name"]: a for a in portal.api("alice", "/api/analyses/")["analyses"]}
    assert {"sum", "virtual", "bright_pixels", "hot_pixels"} <= set(listed)
    assert "gpu_sum" not in listed
    [threshold] = listed["bright_pixels"]["params"]
    assert (threshold["name"], threshold["type"], threshold["required"]) == (
        "threshold",
        "number",
        True,
    )
    assert [r["name"] for r in listed["hot_pixels"]["results"]] == ["fraction", "hot"]
    origin = listed["hot_pixels"]["origin"]
    assert (origin["source"], origin["distribution"]) == ("plugin", "portal-plugin-example")
    assert listed["sum"]["origin"]["source"] == "builtin"


def test_the_openapi_document_has_the_plugins_parameters(portal: Portal) -> None:
    schema = json.loads(fetch(portal, "alice", "/api/schema/"))
    variants = {
        v["properties"]["analysis"]["const"]: v["properties"]["params"]
        for v in schema["components"]["schemas"]["JobSubmit"]["oneOf"]
        if "analysis" in v["properties"]  # not the reproduction from a record
    }
    hot = variants["hot_pixels"]
    assert hot["required"] == ["threshold"]
    assert hot["properties"]["min_fraction"]["maximum"] == 1
    assert hot["properties"]["min_fraction"]["default"] == 0.9
    assert "gpu_sum" not in variants


def test_a_plugin_job_finishes_with_its_results_and_provenance(portal: Portal) -> None:
    data = frames()
    path = write_scan(portal.data / "plugin-scan", data)
    dataset = portal.api("alice", "/api/datasets/", {"name": "plugin scan", "path": str(path)})
    body = {"dataset": dataset["id"], "analysis": "hot_pixels", "params": {"threshold": THRESHOLD}}
    job = finished_job(portal, body)
    assert job["status"] == "finished", job["error"]
    workers = {p["worker"] for p in job["partitions"]}
    assert workers and "inline" not in workers  # computed on the portal's dask workers
    assert job["provenance"]["distribution"] == "portal-plugin-example"
    assert job["provenance"]["version"] == "0.1.0"
    fraction = (data > THRESHOLD).mean(axis=(0, 1))
    got = np.load(io.BytesIO(fetch(portal, "alice", f"/api/jobs/{job['id']}/results/fraction.npy")))
    np.testing.assert_allclose(got, fraction, rtol=1e-15)
    h5 = fetch(portal, "alice", f"/api/jobs/{job['id']}/results/hot.h5")
    with h5py.File(io.BytesIO(h5), "r") as f:
        np.testing.assert_array_equal(f["hot"][()], (fraction >= 0.9).astype(float))
        assert json.loads(f["hot"].attrs["provenance"]) == job["provenance"]

    body = {"dataset": dataset["id"], "analysis": "bright_pixels", "params": {"threshold": 9}}
    job = finished_job(
        portal, body | {"roi": {"shape": "rect", "y": 1, "x": 1, "height": 3, "width": 5}}
    )
    got = np.load(io.BytesIO(fetch(portal, "alice", f"/api/jobs/{job['id']}/results/count.npy")))
    expected = np.full(NAV, np.nan)
    expected[1:4, 1:6] = (data[1:4, 1:6] > 9).sum(axis=(2, 3))
    np.testing.assert_array_equal(got, expected)


def test_a_plugin_that_fails_is_on_the_status_page_and_the_portal_serves(portal: Portal) -> None:
    page = fetch(portal, "root", "/status/").decode()
    section = page[page.index('id="plugins"') :]
    assert "gpu_sum = portal_plugin_broken:GpuSumAnalysis" in section
    assert "portal-plugin-broken" in section
    assert BROKEN_ERROR in section.replace("&#x27;", "'")
    assert "portal-plugin-example" in section  # the ones that loaded
    assert "sum" in {a["name"] for a in portal.api("alice", "/api/analyses/")["analyses"]}


def test_the_reduction_gives_the_same_bits_in_any_partition_order(
    sites, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hot_pixels' combine is exact (integer counts): shuffled partitions, the same result."""
    monkeypatch.syspath_prepend(str(sites["example"]))
    hot = importlib.import_module(f"{EXAMPLE_PACKAGE}.hot")
    analysis = hot.HotPixelsAnalysis(
        {"threshold": THRESHOLD}, nav_shape=NAV, sig_shape=SIG, dtype="<u2"
    )
    data = frames()
    dataset = open_dataset(str(write_scan(tmp_path / "scan", data)))
    parts = dataset.partitions(count=5)
    order = np.random.default_rng(2).permutation(len(parts))
    shuffled = InlineExecutor().run(dataset, analysis, partitions=[parts[i] for i in order])
    whole = InlineExecutor().run(dataset, analysis, partitions=dataset.partitions(count=1))
    for name in ("fraction", "hot"):
        np.testing.assert_array_equal(shuffled.results[name], whole.results[name])
    np.testing.assert_array_equal(whole.results["fraction"], (data > THRESHOLD).mean(axis=(0, 1)))
