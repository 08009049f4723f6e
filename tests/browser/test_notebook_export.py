"""Save as notebook on the analysis page (static/js/notebook.js): a valid nbformat 4 notebook
whose code cells, run with the Python client against the live portal, give the page's result."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from libertem_portal_client import Portal as Client

from tests.browser.conftest import Portal
from tests.browser.test_analysis_page import _drag, _on_screen, _wait_finished

pytestmark = pytest.mark.browser

JOB = {
    "dataset": 3,
    "analysis": "virtual",
    "params": {"shape": "disk", "cx": 60.5, "cy": 64, "r": 9, "flip": True, "skip": None},
    "roi": {"shape": "rect", "y": 1, "x": 2, "height": 3, "width": 4},
}


def _notebook(js: Any, arg: dict[str, Any]) -> Any:
    module = 'const m = await import("/static/js/notebook.js");'
    return js.evaluate(f"async (arg) => {{ {module} return m.notebookFor(arg); }}", arg)


def _run_call(notebook: Any) -> ast.Call:
    cell = next(c for c in notebook["cells"] if c.get("id") == "run")
    return ast.parse(cell["source"]).body[0].value


def test_the_notebook_is_nbformat_4_with_the_job_as_keywords(js: Any) -> None:
    origin = "http://portal.test"
    arg = {"origin": origin, "dataset": {"id": 3, "name": "scan"}, "job": JOB, "title": "Virtual"}
    notebook = nbformat.from_dict(_notebook(js, {**arg, "token": "abc123"}))
    nbformat.validate(notebook)  # raises on anything nbformat 4.5 does not allow
    assert notebook.nbformat == 4 and notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)
    assert notebook.cells[0].source.startswith("# Virtual of scan")
    connect = ast.parse(notebook.cells[1].source).body[1].value
    assert [ast.literal_eval(a) for a in connect.args] == [origin, "abc123"]
    call = _run_call(notebook)
    assert [ast.literal_eval(a) for a in call.args] == [3, "virtual"]
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert keywords == {"roi": JOB["roi"], **JOB["params"]}
    without_token = _notebook(js, arg)
    assert f"paste a token from {origin}/tokens/ here" in without_token["cells"][1]["source"]


def test_parameters_that_are_no_keywords_go_in_a_dict(js: Any) -> None:
    params = {"r": 2, "class": 1, "roi": "a parameter", "two words": [1, 2]}
    job = {"dataset": 5, "analysis": "plugin", "params": params, "roi": None}
    arg = {"origin": "http://p.test", "dataset": {"id": 5, "name": "x"}, "job": job}
    call = _run_call(_notebook(js, arg))
    assert {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg} == {"r": 2}
    rest = [ast.literal_eval(k.value) for k in call.keywords if k.arg is None]
    assert rest == [{"class": 1, "roi": "a parameter", "two words": [1, 2]}]


def test_the_saved_notebook_runs_the_pages_job_through_the_client(
    page: Any, portal: Portal, tmp_path: Path
) -> None:
    path = str(portal.data / "demo" / "demo.json")
    dataset = portal.api("alice", "/api/datasets/", {"name": "demo (notebook)", "path": path})
    page.goto(f"{portal.base}/datasets/{dataset['id']}/analyze/")
    first = _wait_finished(page)
    page.select_option("#analysis-select", "virtual:disk")
    second = _wait_finished(page, after_job=first)
    page.click("#roi-draw")
    _drag(page, _on_screen(page, "scanView", 6, 8), _on_screen(page, "scanView", 30, 20))
    shown = _wait_finished(page, after_job=second)
    job = page.evaluate("() => window.__analysisPage.state.job")
    assert job["roi"]["shape"] == "rect"

    page.click("#python summary")
    page.click("#python-token")  # the user's token goes into the notebook too
    page.wait_for_function(
        "() => !document.getElementById('python-code').textContent.includes('paste a token')"
    )
    with page.expect_download() as download:
        page.click("#notebook-save")
    assert download.value.suggested_filename == f"dataset-{dataset['id']}-virtual.ipynb"
    notebook = nbformat.read(download.value.path(), as_version=4)
    nbformat.validate(notebook)

    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    script = "\n\n".join(
        [*cells, "import sys, numpy\nnumpy.save(sys.argv[1], result['intensity'])\n"]
    )
    out = tmp_path / "intensity.npy"
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "intensity (64, 64) float32 data" in done.stdout
    assert "virtual: 100%" in done.stderr  # the client's progress bar

    client = Client(portal.base, portal.tokens["alice"], progress=False)
    ran = client.jobs(dataset=dataset["id"], limit=1)[0]
    assert ran["id"] > shown
    assert (ran["analysis"], ran["params"], ran["roi"]) == ("virtual", job["params"], job["roi"])
    np.testing.assert_array_equal(np.load(out), client.results(shown)["intensity"])
    assert page.errors == []
