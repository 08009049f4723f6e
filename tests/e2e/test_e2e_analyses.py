"""Every analysis of DESIGN section 8 through the HTTP API on the embedded runner.

Submit -> the job runs in a thread of this process -> the downloaded .npy equals the Core's
own result for the same parameters, and agrees with an independent numpy computation.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import DaskExecutor, InlineExecutor
from apps.core.io import open_dataset
from apps.jobs import executor as job_executor
from tests.jobs.support import NAV, SIG, submit, wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]

YY, XX = np.mgrid[: SIG[0], : SIG[1]]
DISK = ((YY - 8) ** 2 + (XX - 6) ** 2 <= 16).astype(np.float64)
MASKS = np.stack(
    [DISK, (XX < 4).astype(np.float64), np.linspace(0, 1, SIG[0] * SIG[1]).reshape(SIG)]
)


def numpy_reference(analysis: str, data: np.ndarray) -> dict[str, np.ndarray]:
    """Results computed independently of the Core (where a one-liner exists)."""
    d = data.astype(np.float64)
    if analysis == "sum":
        return {"sum": d.sum(axis=(0, 1)), "mean": d.mean(axis=(0, 1)), "max": d.max(axis=(0, 1))}
    if analysis == "pick":
        return {"frame": d[2, 3]}
    if analysis == "virtual":
        return {"intensity": np.einsum("abyx,yx->ab", d, DISK)}
    if analysis == "masks":
        return {"masks": np.einsum("abyx,myx->abm", d, MASKS)}
    if analysis == "com":
        weight = np.einsum("abyx,yx->ab", d, DISK)
        cy = np.einsum("abyx,yx->ab", d, DISK * YY) / weight - 8
        cx = np.einsum("abyx,yx->ab", d, DISK * XX) / weight - 6
        return {"y": cy, "x": cx, "magnitude": np.hypot(cy, cx)}
    if analysis == "radial":
        return {}  # bin edges are the Core's definition; compared with the Core only
    raise AssertionError(analysis)


PARAMS: dict[str, dict[str, Any]] = {
    "sum": {},
    "pick": {"y": 2, "x": 3},
    "virtual": {"shape": "disk", "cx": 6, "cy": 8, "r": 4},
    "com": {"cx": 6, "cy": 8, "r": 4},
    "radial": {"cx": 6, "cy": 8, "ri": 0, "ro": 6, "bins": 3},
    "masks": {},  # the uploaded mask id is filled in
}


def upload_masks(client: Any, dataset: Any) -> int:
    buf = io.BytesIO()
    np.save(buf, MASKS)
    buf.seek(0)
    buf.name = "masks.npy"
    response = client.post("/api/masks/", {"dataset": dataset.pk, "file": buf})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def core_results(dataset: Any, analysis: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    core_params = {"masks": MASKS} if analysis == "masks" else params
    built = make_analysis(analysis, core_params, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    return InlineExecutor().run(open_dataset(dataset.path), built).results


def run_through_api(
    client: Any, dataset: Any, analysis: str, params: dict[str, Any]
) -> dict[str, Any]:
    response = submit(client, dataset, analysis, params)
    assert response.status_code == 202, response.content
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    detail = client.get(response.json()["url"]).json()
    assert detail["progress"] == {"done": 48, "total": 48}
    downloads = {}
    for result in detail["results"]:
        body = client.get(result["urls"]["npy"])
        assert body.status_code == 200
        downloads[result["name"]] = np.load(io.BytesIO(body.content))
        assert list(downloads[result["name"]].shape) == result["shape"]
    return {"detail": detail, "arrays": downloads}


@pytest.mark.parametrize("analysis", list(PARAMS))
def test_it_runs_every_analysis_through_the_api(
    users, client_for, dataset, data, inline_executor, analysis
):
    client = client_for(users.owner)
    params = dict(PARAMS[analysis])
    if analysis == "masks":
        params["masks"] = upload_masks(client, dataset)
    arrays = run_through_api(client, dataset, analysis, params)["arrays"]
    expected = core_results(dataset, analysis, params)
    assert set(arrays) == set(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(arrays[name], array, err_msg=name)
    for name, array in numpy_reference(analysis, data).items():
        np.testing.assert_allclose(arrays[name], array, rtol=1e-5, atol=1e-6, err_msg=name)


def test_it_runs_on_a_dask_cluster_with_two_worker_processes(
    users, client_for, dataset, data, dask_cluster
):
    executor = DaskExecutor(dask_cluster.scheduler_address)
    job_executor.set_executor(executor)
    try:
        run = run_through_api(client_for(users.member), dataset, "virtual", PARAMS["virtual"])
    finally:
        job_executor.set_executor(None)
        executor.close()
    np.testing.assert_allclose(
        run["arrays"]["intensity"], numpy_reference("virtual", data)["intensity"], rtol=1e-5
    )
    partitions = run["detail"]["partitions"]
    assert len(partitions) == 2
    assert {p["worker"] for p in partitions} <= {str(name) for name in dask_cluster.workers}
    assert sum(p["nbytes"] for p in partitions) == data.nbytes
    assert all(p["gbs"] is None or p["gbs"] > 0 for p in partitions)
