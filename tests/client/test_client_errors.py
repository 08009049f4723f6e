"""The client's refusals as Python exceptions carrying the portal's status, sentence and fields;
cancelling and waiting on jobs that cannot progress (the portal's dask workers stopped), and a
wait whose websocket is cut (it reconnects), refused (404) or revoked (401)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import requests
from libertem_portal_client import (
    BadRequest,
    Conflict,
    Forbidden,
    JobCancelled,
    JobFailed,
    NotAuthenticated,
    NotFound,
    Portal,
    PortalError,
)

from tests.client.conftest import demo_copy, stopped_workers
from tests.client.proxy import CuttingProxy
from tests.live_portal import Portal as LivePortal

pytestmark = pytest.mark.slow


def test_a_wrong_token_is_401_with_the_portals_sentence(live: LivePortal) -> None:
    with pytest.raises(NotAuthenticated) as refused:
        Portal(live.base, "not-a-token").datasets()
    assert refused.value.status == 401
    assert refused.value.message == "The API token is invalid or was revoked."
    assert str(refused.value) == "401: The API token is invalid or was revoked."


def test_an_object_the_user_may_not_see_is_404(bob: Portal, dataset: dict[str, Any]) -> None:
    with pytest.raises(NotFound) as refused:
        bob.dataset(dataset["id"])
    assert refused.value.status == 404
    with pytest.raises(NotFound):
        bob.run(dataset["id"], "sum")
    with pytest.raises(NotFound, match="No such job"):
        bob.job(10**9)


def test_a_bad_parameter_is_400_naming_the_field(alice: Portal, dataset: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as refused:
        alice.run(dataset, "virtual", shape="disk", cx=64, cy=64, r=-1)
    assert refused.value.status == 400
    assert refused.value.fields == {"r": "must be greater than 0, got -1."}
    assert "r: must be greater than 0" in str(refused.value)
    with pytest.raises(BadRequest) as refused:
        alice.jobs(status="sleeping")
    assert set(refused.value.fields) == {"status"}


def test_a_member_may_see_a_shared_job_but_not_cancel_it(
    live: LivePortal, lab: dict[str, Portal]
) -> None:
    carol, dave = lab["carol"], lab["dave"]
    body = {"name": "lab scan", "path": str(demo_copy(live, "lab")), "groups": ["lab"]}
    shared = live.api("carol", "/api/datasets/", body)  # registering is not the client's
    result = carol.run(shared, "sum")
    live.api("carol", f"/api/jobs/{result.id}/share/", {"shared": True})
    assert dave.job(result.id)["status"] == "finished"
    with pytest.raises(Forbidden) as refused:
        dave.cancel(result.id)
    assert refused.value.status == 403
    with pytest.raises(Conflict) as ended:  # its owner may, but it has ended
        carol.cancel(result.id)
    assert (ended.value.status, ended.value.fields) == (409, {"status": "finished"})


def test_a_failed_job_raises_with_the_portals_explanation(live: LivePortal, alice: Portal) -> None:
    path = demo_copy(live, "vanishing")
    dataset = live.api("alice", "/api/datasets/", {"name": "gone", "path": str(path)})
    (path.parent / "demo.raw").unlink()
    with pytest.raises(JobFailed) as failed:
        alice.run(dataset, "sum")
    assert failed.value.job["status"] == "failed"
    assert (
        failed.value.message == f"Job {failed.value.job['id']} failed: {failed.value.job['error']}"
    )
    assert "demo.raw" in failed.value.job["error"]
    with pytest.raises(PortalError, match="only a finished job has results"):
        alice.results(failed.value.job["id"])


def test_cancel_ends_a_queued_and_a_running_job(
    live: LivePortal, alice: Portal, dataset: dict[str, Any]
) -> None:
    alice.run(dataset, "sum")  # the workers are up
    with stopped_workers(live):
        running = alice.submit(dataset, "virtual", reuse=False, shape="disk", cx=64, cy=64, r=8)
        queued = alice.submit(dataset, "virtual", reuse=False, shape="disk", cx=64, cy=64, r=9)
        assert alice.cancel(queued)["status"] == "cancelled"  # a waiting job ends at once
        with pytest.raises(JobCancelled) as cancelled:
            alice.wait(queued)
        assert cancelled.value.job["id"] == queued["id"]
        with pytest.raises(TimeoutError, match="still running"):
            alice.wait(running, timeout=1.0)
        assert alice.cancel(running)["cancel_requested"] is True
    with pytest.raises(JobCancelled):
        alice.wait(running["id"])
    assert alice.job(running)["status"] == "cancelled"


def test_a_job_the_user_may_not_see_ends_the_wait_with_404(
    alice: Portal, bob: Portal, dataset: dict[str, Any]
) -> None:
    job = alice.submit(dataset, "sum")
    with pytest.raises(
        NotFound, match=f"Job {job['id']} does not exist or you may no longer see it"
    ):
        bob.wait(job)  # the websocket closes with 4404
    assert alice.wait(job)["status"] == "finished"


def test_a_cut_websocket_is_opened_again_and_the_wait_goes_on(
    live: LivePortal, dataset: dict[str, Any], frames: Any
) -> None:
    proxy = CuttingProxy(int(live.base.rsplit(":", 1)[1]))
    client = Portal(proxy.base, live.tokens["alice"], progress=False)
    try:
        with ThreadPoolExecutor(1) as pool:
            with stopped_workers(live):
                job = client.submit(
                    dataset, "virtual", reuse=False, shape="disk", cx=64, cy=64, r=6
                )
                waited = pool.submit(client.wait, job)
                proxy.wait_for_websockets(1)
                proxy.cut()  # as a network failure would
                proxy.wait_for_websockets(2)  # the client opened it again
                assert not waited.done()
            assert waited.result()["status"] == "finished"
        assert len(proxy.answered) == 2
    finally:
        proxy.close()
    yy, xx = np.mgrid[:128, :128]
    disk = (((yy - 64) ** 2 + (xx - 64) ** 2) <= 36).ravel()
    expected = (frames @ disk).reshape(64, 64)
    np.testing.assert_allclose(client.results(job)["intensity"], expected, rtol=1e-5)


def test_a_token_revoked_while_waiting_ends_the_wait_with_401(
    live: LivePortal, dataset: dict[str, Any]
) -> None:
    made = live.api("alice", "/api/tokens/", {"name": "revoked while waiting"})
    proxy = CuttingProxy(int(live.base.rsplit(":", 1)[1]))
    client = Portal(proxy.base, made["key"], progress=False)
    try:
        with ThreadPoolExecutor(1) as pool, stopped_workers(live):
            job = client.submit(dataset, "sum", reuse=False)  # computed, not a cached copy
            waited = pool.submit(client.wait, job)
            proxy.wait_for_websockets(1)
            revoked = requests.delete(
                f"{live.base}/api/tokens/{made['id']}/",
                headers={"Authorization": f"Token {live.tokens['alice']}"},
                timeout=30,
            )
            assert revoked.status_code == 204
            with pytest.raises(NotAuthenticated, match="token was revoked"):
                waited.result(timeout=60)
        assert len(proxy.answered) == 1  # no reconnect after 4401
    finally:
        proxy.close()


def test_a_portal_that_cannot_be_reached_is_a_portal_error_and_ends_a_wait_at_its_timeout(
    live: LivePortal, alice: Portal, dataset: dict[str, Any]
) -> None:
    proxy = CuttingProxy(int(live.base.rsplit(":", 1)[1]))
    client = Portal(proxy.base, live.tokens["alice"], progress=False)
    with stopped_workers(live):
        job = client.submit(dataset, "sum", reuse=False)
        proxy.close()  # new connections are refused from now on
        fresh = Portal(proxy.base, live.tokens["alice"])  # no connection kept alive
        with pytest.raises(PortalError, match=f"Could not reach the portal at {proxy.base}"):
            fresh.job(job)
        with pytest.raises(TimeoutError, match="still running"):
            client.wait(job, timeout=2.0)  # it tries again until then
    assert len(proxy.answered) == 0
    assert alice.wait(job)["status"] == "finished"
