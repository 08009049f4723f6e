"""The job page's live view in a real Chromium against a live portal (see conftest.py).

The page watches its job through static/js/jobclient.js: it reconnects after the server drops
the socket and shows the job as it then is, takes every message the server builds without
throwing, and stops for good when the server closes with a final code (access lost, token
revoked). Jobs that must stay queued or running are rows written beside the server (no worker
runs them); each test's rows end before the next test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.live.events import CLOSE_NOT_FOUND, CLOSE_REVOKED, status_message
from tests.browser.conftest import ROOT, Portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_SECONDS = 90  # a real job (the first one of the session also starts the dask workers)
REQUEUED = "Attempt 1 stopped responding (no heartbeat for 60 s); queued to run again."


def _django(portal: Portal, code: str) -> Any:
    """Run ``code`` in a Django shell beside the server; the JSON its last line prints."""
    return json.loads(portal.manage("shell", "-c", code).strip().splitlines()[-1])


def _register_copy(portal: Portal, user: str, folder: str) -> int:
    """A dataset of ``user`` on a fresh copy of the demo data (so no other test shares it)."""
    code = "import sys; from pathlib import Path; from apps.datasets.demo import write_demo; write_demo(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(portal.data / folder)], cwd=ROOT, check=True)
    path = str(portal.data / folder / "demo.json")
    return int(portal.api(user, "/api/datasets/", {"name": folder, "path": path})["id"])


def _jobs_running(portal: Portal, dataset: int, count: int, *, shared: bool = False) -> list[int]:
    """``count`` rows of jobs "running" on ``dataset`` (its owner's), heartbeat now."""
    return _django(
        portal,
        f"""
import json
from django.utils import timezone
from apps.datasets.models import Dataset
from apps.jobs.models import Job
ds = Dataset.objects.get(pk={dataset})
now = timezone.now()
print(json.dumps([
    Job.objects.create(
        owner=ds.owner, dataset=ds, analysis="sum", status="running", attempt=1,
        frames_total=ds.n_frames, started=now, heartbeat=now, shared={shared},
    ).pk
    for _ in range({count})
]))
""",
    )


def _end_jobs(portal: Portal, ids: list[int]) -> None:
    _django(
        portal,
        f"""
from django.utils import timezone
from apps.jobs.models import Job
Job.objects.filter(pk__in={ids}, status="running").update(
    status="failed", error="ended by the test", finished=timezone.now()
)
print(1)
""",
    )


def _revoke(portal: Portal, user: str, url: str) -> None:
    """DELETE ``url`` with ``user``'s token (Portal.api only reads and posts)."""
    request = urllib.request.Request(  # noqa: S310 - the test server's http://127.0.0.1 address
        portal.base + url,
        method="DELETE",
        headers={"Authorization": f"Token {portal.tokens[user]}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 204


def _until(page: Any, condition: Callable[[], bool], what: str, seconds: float = 15) -> None:
    """Wait for ``condition`` while Playwright dispatches the page's events."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


@pytest.fixture
def page_of(browser: Any, portal: Portal) -> Iterator[Callable[[str], Any]]:
    """A signed-in page of a user that records the page's errors and websockets."""
    contexts: list[Any] = []

    def open_page(user: str) -> Any:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.sockets = []
        page.ws_frames = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))

        def opened(ws: Any) -> None:
            page.sockets.append(ws)
            ws.on("framereceived", lambda frame: page.ws_frames.append(frame))

        page.on("websocket", opened)
        portal.login(page, user)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def bob_dataset(portal: Portal) -> int:
    return _register_copy(portal, "bob", "jobpage-bob")


def test_the_job_page_reconnects_after_a_drop_and_shows_the_final_image(
    page_of: Callable[[str], Any], portal: Portal, bob_dataset: int
) -> None:
    # bob runs at most 2 jobs at a time (MAX_RUNNING_JOBS_PER_USER): two rows hold his slots,
    # so the job he submits stays queued until the test lets it run.
    blockers = _jobs_running(portal, bob_dataset, 2)
    try:
        job = portal.api("bob", "/api/jobs/", {"dataset": bob_dataset, "analysis": "sum"})
        assert portal.api("bob", f"/api/jobs/{job['id']}/")["status"] == "queued"
        page = page_of("bob")
        routes: list[Any] = []
        frames: list[str] = []
        server_up = [True]

        def route(ws: Any) -> None:
            routes.append(ws)
            if not server_up[0]:
                ws.close(code=1012, reason="service restart")
                return
            server = ws.connect_to_server()
            server.on_message(lambda message: (frames.append(message), ws.send(message)))

        page.route_web_socket("**/ws/jobs/**", route)
        page.goto(f"{portal.base}/jobs/{job['id']}/")
        _until(page, lambda: bool(frames), "the server's first message")
        assert json.loads(frames[0])["status"] == "queued"
        assert page.inner_text("#job-status") == "queued"

        # The server goes away (as in a restart); the job runs and ends meanwhile.
        server_up[0] = False
        routes[0].close(code=1012, reason="service restart")
        page.wait_for_function(
            "() => document.getElementById('job-live').textContent.includes('reconnecting')"
        )
        _end_jobs(portal, blockers)
        portal.api("bob", "/api/jobs/", {"dataset": bob_dataset, "analysis": "sum"})
        deadline = time.monotonic() + JOB_SECONDS
        while portal.api("bob", f"/api/jobs/{job['id']}/")["status"] != "finished":
            assert time.monotonic() < deadline, "the job did not finish"
            page.wait_for_timeout(250)
        tries = len(routes)
        assert tries >= 2  # it kept trying while the server was away
        server_up[0] = True
        # The next try reaches the server, whose status says finished: the page reloads once
        # and shows the results rendered by the server.
        page.wait_for_function(
            """() => {
                const imgs = [...document.querySelectorAll('img.result-preview')];
                return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
            }""",
            timeout=30_000,
        )
        assert len(routes) > tries
        # the finished job's status, then its preview's .npy (docs/api.md)
        status, npy = frames[-2:]
        assert json.loads(status)["status"] == "finished" and json.loads(status)["image"] == "mean"
        assert isinstance(npy, bytes) and npy.startswith(b"\x93NUMPY")
        assert page.inner_text("#job-status") == "finished"
        names = page.eval_on_selector_all("img.result-preview", "imgs => imgs.map(i => i.alt)")
        assert sorted(names) == ["max preview", "mean preview", "sum preview"]
        assert page.errors == []
    finally:
        _end_jobs(portal, blockers)


def test_a_requeue_status_updates_the_page_without_an_error(
    page_of: Callable[[str], Any], portal: Portal, bob_dataset: int
) -> None:
    [job_id] = _jobs_running(portal, bob_dataset, 1)
    try:
        total = portal.api("bob", f"/api/jobs/{job_id}/")["progress"]["total"]
        page = page_of("bob")
        routes: list[Any] = []
        page.route_web_socket(
            "**/ws/jobs/**", lambda ws: routes.append(ws)
        )  # stands in for the server
        page.goto(f"{portal.base}/jobs/{job_id}/")
        _until(page, lambda: bool(routes), "the page's websocket")
        running = status_message(job_id, "analysis", "running", done=12, total=total)
        routes[0].send(json.dumps(running))
        page.wait_for_function(
            "() => document.getElementById('job-frames').textContent.startsWith('12 /')"
        )
        # What the reaper sends when it queues the job again (tests/live checks the reaper).
        requeued = status_message(job_id, "analysis", "queued", done=0, total=total, error=REQUEUED)
        routes[0].send(json.dumps(requeued))
        page.wait_for_function(
            "() => document.getElementById('job-status').textContent === 'queued'"
        )
        assert page.inner_text("#job-frames") == f"0 / {total}"
        assert page.inner_text("#job-error") == REQUEUED
        assert page.errors == []
    finally:
        _end_jobs(portal, [job_id])


@pytest.fixture(scope="module")
def shared_job(portal: Portal) -> Iterator[int]:
    """alice's running job, shared with everyone who may see its dataset (bob, by a group)."""
    dataset = _register_copy(portal, "alice", "jobpage-alice")
    _django(
        portal,
        f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from apps.datasets.models import Dataset
group, _ = Group.objects.get_or_create(name="jobpage-beam")
group.user_set.add(*get_user_model().objects.filter(username__in=["alice", "bob"]))
Dataset.objects.get(pk={dataset}).groups.add(group)
print(1)
""",
    )
    [job_id] = _jobs_running(portal, dataset, 1, shared=True)
    yield job_id
    _end_jobs(portal, [job_id])


def _open_socket(page: Any, path: str) -> None:
    """A JobSocket of jobclient.js in ``page``, its states recorded in ``window.__states``."""
    page.evaluate(
        """async (path) => {
            const { JobSocket } = await import('/static/js/jobclient.js');
            window.__states = [];
            new JobSocket(path, { onState: (state, detail) => window.__states.push([state, detail]) });
        }""",
        path,
    )


def test_lost_access_stops_the_reconnects(
    page_of: Callable[[str], Any], portal: Portal, shared_job: int
) -> None:
    page = page_of("bob")
    page.goto(f"{portal.base}/jobs/{shared_job}/")
    _until(page, lambda: bool(page.ws_frames), "the server's status")  # the socket is live
    portal.api("alice", f"/api/jobs/{shared_job}/share/", {"shared": False})
    page.wait_for_function(
        "() => document.getElementById('job-live').textContent.includes('no longer shown to you')"
    )
    page.wait_for_timeout(3000)  # a reconnect would have come after 0.5 s, then 1 s
    assert len(page.sockets) == 1
    # A new socket to the job bob may no longer see is accepted and closed with the code, so
    # the browser learns it (a refused handshake would look like a network drop: 1006).
    _open_socket(page, f"/ws/jobs/{shared_job}/")
    page.wait_for_function(
        "() => window.__states.some(([state]) => state === 'refused')", timeout=30_000
    )
    page.wait_for_timeout(2000)
    states = page.evaluate("() => window.__states")
    # Under load the first handshake was once dropped (a reconnect 0.5 s later was refused):
    # a drop may come first, but the socket ends refused with the code and stops there.
    lost = [s for s in states[:-1] if s[0] == "lost"]
    assert states[-1] == ["refused", CLOSE_NOT_FOUND] and len(lost) == len(states) - 1 <= 1
    assert len(page.sockets) == 2 + len(lost)
    assert page.errors == []


def test_a_revoked_token_stops_the_reconnects(
    page_of: Callable[[str], Any], portal: Portal, bob_dataset: int
) -> None:
    [job_id] = _jobs_running(portal, bob_dataset, 1)
    try:
        token = portal.api("bob", "/api/tokens/", {"name": "job page test"})
        page = page_of("bob")
        page.goto(f"{portal.base}/datasets/")
        _open_socket(page, f"/ws/jobs/{job_id}/?token={token['key']}")
        page.wait_for_function("() => window.__states.length > 0")
        assert page.evaluate("() => window.__states") == [["live", None]]
        _revoke(portal, "bob", token["url"])
        page.wait_for_function("() => window.__states.length > 1")
        page.wait_for_timeout(2000)
        assert page.evaluate("() => window.__states") == [
            ["live", None],
            ["refused", CLOSE_REVOKED],
        ]
        assert len(page.sockets) == 1
    finally:
        _end_jobs(portal, [job_id])


def test_the_queue_place_moves_live_and_run_again_shows_the_new_job_in_place(
    page_of: Callable[[str], Any], portal: Portal, bob_dataset: int
) -> None:
    blockers = _jobs_running(portal, bob_dataset, 2)  # bob's two slots: his jobs wait
    new: dict[str, Any] = {}
    try:
        # a touched file is a miss of the result cache, so the jobs wait in the queue (an
        # earlier test's finished sum on these files would answer them at once, docs/cache.md)
        os.utime(portal.data / "jobpage-bob" / "demo.json")
        body = {"dataset": bob_dataset, "analysis": "sum"}
        first, second = (portal.api("bob", "/api/jobs/", body) for _ in range(2))
        page = page_of("bob")
        page.goto(f"{portal.base}/jobs/{second['id']}/")
        page.evaluate("() => { window.__samePage = true; }")  # gone if the page reloads
        _until(page, lambda: page.inner_text("#job-queue-place") == "2nd", "2nd in the queue")
        assert "in your queue (you run 2 of at most 2 jobs at a time)" in page.inner_text(
            "#job-queue"
        )
        portal.api("bob", f"/api/jobs/{first['id']}/cancel/", {})
        _until(page, lambda: page.inner_text("#job-queue-place") == "1st", "1st in the queue")

        portal.api("bob", f"/api/jobs/{second['id']}/cancel/", {})
        page.wait_for_selector("#job-rerun button")  # the ended job's page, fetched again
        assert page.inner_text("#job-status") == "cancelled"
        assert page.is_hidden("#job-queue")
        page.click("#job-rerun button")
        old = f"/jobs/{second['id']}/"
        page.wait_for_function("(old) => location.pathname !== old", arg=old)
        new["id"] = int(page.url.rstrip("/").rsplit("/", 1)[1])
        assert new["id"] > second["id"]
        assert portal.api("bob", f"/api/jobs/{new['id']}/")["params"] == {}
        page.wait_for_function(
            "() => document.getElementById('job-status').textContent === 'queued'"
        )
        assert page.inner_text("h1").startswith(f"Job #{new['id']}: sum on")
        _until(page, lambda: page.inner_text("#job-queue-place") == "1st", "the new job's place")
        assert page.evaluate("() => window.__samePage") is True
        assert page.errors == []
    finally:
        if new:
            portal.api("bob", f"/api/jobs/{new['id']}/cancel/", {})
        _end_jobs(portal, blockers)


def test_run_again_over_a_quota_says_which_used_and_limit(
    page_of: Callable[[str], Any], portal: Portal, bob_dataset: int
) -> None:
    # bob's finished job with a 1600-byte result, and a result quota of 1000 bytes for him
    job_id = _django(
        portal,
        f"""
import json
import numpy as np
from django.utils import timezone
from apps.accounts.models import Quota
from apps.datasets.models import Dataset
from apps.jobs.models import Job
from apps.results.store import results_replace
ds = Dataset.objects.get(pk={bob_dataset})
now = timezone.now()
job = Job.objects.create(owner=ds.owner, dataset=ds, analysis="sum", status="finished",
                         started=now, finished=now, frames_total=ds.n_frames)
results_replace(job=job, results={{"sum": np.zeros(200, np.float64)}})
Quota.objects.update_or_create(user=ds.owner, defaults={{"result_bytes": 1000}})
print(json.dumps(job.pk))
""",
    )
    try:
        page = page_of("bob")
        page.goto(f"{portal.base}/jobs/{job_id}/")
        page.click("#job-rerun button")
        page.wait_for_function(
            "() => document.getElementById('job-live').textContent.includes('quota')"
        )
        text = page.inner_text("#job-live")
        assert text.startswith("The job cannot run again: Your result store quota is used up:")
        assert "of 1 kB. Delete old results or ask staff to raise the quota." in text
        assert page.url == f"{portal.base}/jobs/{job_id}/"
        assert not page.is_disabled("#job-rerun button")
        assert page.errors == []
    finally:
        _django(
            portal,
            f"""
from apps.accounts.models import Quota
from apps.jobs.models import Job
Quota.objects.filter(user__username="bob").delete()
Job.objects.filter(pk={job_id}).delete()
print(1)
""",
        )
