"""The live kind end to end against LiberTEM-live's Merlin simulator: the session armed through
the API runs its receiver process, the results equal a numpy reference on the same frames, the
recording is byte-equal to the detector's frames and registered as a dataset with the results,
viewers get the images, the operator changes a ring mid-scan, stops it; faults end clearly."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.acquisition.models import Detector, LiveSession
from apps.core.io import open_dataset
from apps.datasets.folders import folder_declare
from apps.datasets.models import Dataset
from apps.jobs.models import Job
from apps.results.store import result_array
from tests.jobs.support import wait_status, wait_terminal
from tests.merlin_files import write_hdr, write_mib

pytestmark = pytest.mark.django_db(transaction=True)

SIG = 32
RING = {"shape": "ring", "cx": 16, "cy": 16, "ri": 4, "ro": 12}
MOVED = {"shape": "ring", "cx": 12, "cy": 14, "ri": 2, "ro": 9}


def ring_mask(p: dict[str, Any]) -> np.ndarray:
    """Pixel centres with ri < distance <= ro (the ring of docs/analyses.md)."""
    yy, xx = np.mgrid[:SIG, :SIG]
    r2 = (yy - p["cy"]) ** 2 + (xx - p["cx"]) ** 2
    return (r2 > p["ri"] ** 2) & (r2 <= p["ro"] ** 2)


def scan_frames(nav: tuple[int, int], seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, size=(*nav, SIG, SIG), dtype=np.uint16)


@pytest.fixture
def live_setup(users, data_root, thread_runner, tmp_path, simulators):
    (data_root / "live").mkdir()
    folder, _ = folder_declare(path=str(data_root / "live"), groups=["lab"])

    def make(nav: tuple[int, int], dwell_us: int | None = None) -> tuple[Detector, np.ndarray]:
        frames = scan_frames(nav)
        n = nav[0] * nav[1]
        write_mib(tmp_path / "scan.mib", frames.reshape(n, SIG, SIG))
        write_hdr(tmp_path / "scan.hdr", n, nav[1])
        sim = simulators.merlin(tmp_path / "scan.hdr", nav_shape=nav, dwelltime_us=dwell_us)
        detector = Detector.objects.create(
            name="merlin-sim",
            kind="merlin",
            host="127.0.0.1",
            data_port=sim.ports["data"],
            control_port=sim.ports["control"],
            trigger_mode="soft",
            sig_shape=[SIG, SIG],
            folder=folder,
        )
        detector.groups.add(users.lab)
        detector.sim = sim  # type: ignore[attr-defined]
        return detector, frames

    return make


def arm(client, detector: Detector, nav: tuple[int, int], analyses: list, **extra: Any) -> dict:
    body = {"detector": detector.pk, "nav_shape": list(nav), "analyses": analyses, **extra}
    response = client.post("/api/live/sessions/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.json()
    return response.json()


def results_of(job: Job) -> dict[str, np.ndarray]:
    return {r.name: result_array(r) for r in job.results.filter(partial=False)}


def test_a_session_records_analyses_and_registers_the_scan(client_for, users, live_setup):
    nav = (4, 6)
    detector, frames = live_setup(nav)
    analyses = [{"analysis": "virtual", "params": RING}, {"analysis": "sum"}]
    body = arm(client_for(users.owner), detector, nav, analyses, name="scan_a")
    job = wait_terminal(body["id"], timeout=120)
    assert job.status == Job.Status.FINISHED, job.error

    got = results_of(job)
    flat = frames.reshape(-1, SIG, SIG).astype(np.float64)
    want_ring = (flat[:, ring_mask(RING)].sum(axis=1)).reshape(nav)
    np.testing.assert_allclose(got["0-virtual-intensity"], want_ring, rtol=1e-6)
    np.testing.assert_allclose(got["1-sum-sum"], flat.sum(axis=0), rtol=1e-6)

    dataset = Dataset.objects.get(pk=job.dataset_id)
    assert (dataset.status, dataset.origin) == ("ready", "live")
    assert dataset.nav_shape == list(nav) and dataset.sig_shape == [SIG, SIG]
    raw = Path(dataset.path).parent / "frames.raw"
    assert raw.read_bytes() == frames.astype(">u2").tobytes()  # the detector's own bytes
    assert open_dataset(dataset.path).extra["metadata"]["live"]["state"] == "complete"

    session = LiveSession.objects.get(job=job)
    assert (session.state, session.frames, session.lost_frames) == ("complete", 24, 0)
    live = client_for(users.owner).get(f"/api/jobs/{job.pk}/").json()["live"]
    assert live["dataset"] == dataset.pk and live["state"] == "complete"
    listed = client_for(users.owner).get("/api/datasets/?origin=live").json()
    assert [d["id"] for d in listed["datasets"]] == [dataset.pk]
    assert listed["datasets"][0]["origin"] == "live"


def test_the_operator_moves_the_ring_mid_scan_and_stops(client_for, users, live_setup):
    nav = (10, 10)
    detector, frames = live_setup(nav, dwell_us=80_000)  # 8 s for the scan
    owner = client_for(users.owner)
    body = arm(owner, detector, nav, [{"analysis": "virtual", "params": RING}])
    job_id = body["id"]
    deadline = time.monotonic() + 60
    while LiveSession.objects.get(job_id=job_id).frames < 10:
        assert time.monotonic() < deadline, "no frames arrived"
        time.sleep(0.05)
    url = f"/api/live/sessions/{job_id}/analyses/"
    moved = owner.put(f"{url}0/", json.dumps({"params": MOVED}), content_type="application/json")
    assert moved.status_code == 200
    added = owner.post(url, json.dumps({"analysis": "sum"}), content_type="application/json")
    assert added.status_code == 201 and added.json()["index"] == 1
    changed_at = LiveSession.objects.get(job_id=job_id).frames
    while LiveSession.objects.get(job_id=job_id).frames < changed_at + 5:  # continued live
        assert time.monotonic() < deadline + 60, "no frames after the change"
        time.sleep(0.05)
    assert owner.post(f"/api/live/sessions/{job_id}/stop/").status_code == 200
    job = wait_terminal(job_id, timeout=120)
    assert job.status == Job.Status.FINISHED, job.error

    session = LiveSession.objects.get(job=job)
    assert session.state == "stopped"
    k = session.frames
    assert 10 < k < 100
    got = results_of(job)
    flat = frames.reshape(-1, SIG, SIG).astype(np.float64)
    # the moved ring over every frame received, the ones before the move included
    want = np.full(100, np.nan)
    want[:k] = flat[:k, ring_mask(MOVED)].sum(axis=1)
    np.testing.assert_allclose(got["0-virtual-intensity"].ravel(), want, rtol=1e-6)
    np.testing.assert_allclose(got["1-sum-sum"], flat[:k].sum(axis=0), rtol=1e-6)
    dataset = Dataset.objects.get(pk=job.dataset_id)
    assert dataset.status == "ready"
    assert open_dataset(dataset.path).extra["metadata"]["live"]["truncated_after"] == k


def test_a_killed_receiver_fails_the_session_and_keeps_the_frames(client_for, users, live_setup):
    nav = (10, 10)
    detector, frames = live_setup(nav, dwell_us=40_000)
    body = arm(client_for(users.owner), detector, nav, [{"analysis": "sum"}])
    job_id = body["id"]
    wait_status(job_id, "running", timeout=60)
    deadline = time.monotonic() + 60
    while LiveSession.objects.get(job_id=job_id).frames < 10:
        assert time.monotonic() < deadline, "no frames arrived"
        time.sleep(0.05)
    receiver = receiver_pid()
    os.kill(receiver, signal.SIGKILL)
    job = wait_terminal(job_id, timeout=120)
    assert job.status == Job.Status.FAILED
    assert "receiver process ended unexpectedly" in job.error and "recorded as dataset" in job.error
    dataset = Dataset.objects.get(pk=job.dataset_id)
    assert dataset.status == "ready"
    report = open_dataset(dataset.path).extra["metadata"]["live"]
    assert report["state"] == "failed" and report["frames_received"] >= 10
    k = report["frames_received"]
    raw = (Path(dataset.path).parent / "frames.raw").read_bytes()
    assert raw[: k * SIG * SIG * 2] == frames.reshape(-1)[: k * SIG * SIG].astype(">u2").tobytes()
    assert LiveSession.objects.get(job_id=job_id).state == "failed"


def test_a_detector_that_drops_the_connection_fails_with_what_arrived(
    client_for, users, live_setup
):
    nav = (10, 10)
    detector, _ = live_setup(nav, dwell_us=40_000)
    job_id = arm(client_for(users.owner), detector, nav, [{"analysis": "sum"}])["id"]
    deadline = time.monotonic() + 60
    while LiveSession.objects.get(job_id=job_id).frames < 10:
        assert time.monotonic() < deadline, "no frames arrived"
        time.sleep(0.05)
    detector.sim.kill()  # type: ignore[attr-defined]
    job = wait_terminal(job_id, timeout=120)
    assert job.status == Job.Status.FAILED
    assert "stream broke off" in job.error
    session = LiveSession.objects.get(job_id=job_id)
    assert session.state == "failed" and 10 <= session.frames < 100
    assert Dataset.objects.get(pk=job.dataset_id).status == "ready"


def test_an_unreachable_detector_fails_clearly(client_for, users, live_setup, settings):
    settings.LIVE_FIRST_FRAME_TIMEOUT = 2
    detector, _ = live_setup((2, 2))
    detector.sim.kill()  # type: ignore[attr-defined]
    job_id = arm(client_for(users.owner), detector, (2, 2), [{"analysis": "sum"}])["id"]
    job = wait_terminal(job_id, timeout=120)
    assert job.status == Job.Status.FAILED
    assert job.error.startswith("The detector merlin-sim could not be armed")
    assert Dataset.objects.get(pk=job.dataset_id).status == "error"


def receiver_pid() -> int:
    """The receiver process this test run started (a child of this process)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"apps.core.live.receiver" in cmdline:
            return int(entry.name)
    raise AssertionError("no receiver process is running")


async def collect(ws: Any, until: str, timeout: float = 120) -> list[tuple[dict, bytes | None]]:
    """Every message (with the binary frame after a partial) until one of type ``until``."""
    got: list[tuple[dict, bytes | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(await ws.receive_from(timeout=timeout))
        pixels = None
        if message["type"] == "partial":
            pixels = (await ws.receive_output(timeout=10))["bytes"]
        got.append((message, pixels))
        if message["type"] == until:
            return got
    raise AssertionError(f"no {until} message within {timeout} s")


async def test_two_viewers_watch_the_images_build_up(users, live_setup, held_jobs):
    from channels.db import database_sync_to_async

    from tests.live.test_live_websocket import connect_as

    nav = (6, 8)
    detector, frames = await database_sync_to_async(live_setup)(nav, 30_000)  # ~1.5 s

    def armed() -> int:
        from django.test import Client

        client = Client()
        client.force_login(users.owner)
        analyses = [{"analysis": "sum"}, {"analysis": "virtual", "params": RING}]
        return arm(client, detector, nav, analyses, share_with_groups=["lab"])["id"]

    job_id = await database_sync_to_async(armed)()
    viewers = [
        await database_sync_to_async(connect_as)(user, job_id)
        for user in (users.member, users.staff)
    ]
    outsider = await database_sync_to_async(connect_as)(users.outsider, job_id)
    for ws in viewers:
        assert (await ws.connect())[0]
        first = json.loads(await ws.receive_from(timeout=10))
        assert first["type"] == "status" and first["live"]["state"] == "armed"
    assert (await outsider.connect())[0]
    assert (await outsider.receive_output(timeout=10))["code"] == 4404
    # a third viewer closes its browser as soon as the first image came: nothing else changes
    leaving = await database_sync_to_async(connect_as)(users.owner, job_id)
    assert (await leaving.connect())[0]
    await database_sync_to_async(held_jobs.release)()
    while json.loads(await leaving.receive_from(timeout=60))["type"] != "partial":
        pass
    await leaving.disconnect()

    seen = [await collect(ws, "finished") for ws in viewers]
    for messages in seen:
        live = [m for m, _ in messages if m["type"] == "live"]
        assert live[0]["state"] == "receiving" and live[-1]["state"] == "complete"
        partials = [(m, p) for m, p in messages if m["type"] == "partial"]
        names = {(m["analysis"], m["name"]) for m, _ in partials}
        assert {(0, "sum"), (1, "intensity")} <= names
        assert all(m["kind"] == "live" and m["scan"] == 0 for m, _ in partials)
        # the last ring image holds every frame's ring sum
        ring, pixels = [(m, p) for m, p in partials if m["name"] == "intensity"][-1]
        image = np.frombuffer(pixels, "<f4").reshape(ring["shape"])
        flat = frames.reshape(-1, SIG, SIG).astype(np.float64)
        done = ring["done"]
        want = np.full(nav[0] * nav[1], np.nan)
        want[:done] = flat[:done, ring_mask(RING)].sum(axis=1)
        np.testing.assert_allclose(image.ravel(), want, rtol=1e-6)
        finished = messages[-1][0]
        assert {r["name"] for r in finished["results"]} >= {"0-sum-sum", "1-virtual-intensity"}
    for ws in viewers:
        await ws.disconnect()


def test_continuous_mode_repeats_scans_and_keeps_the_latest_complete(client_for, users, live_setup):
    nav = (3, 4)
    detector, frames = live_setup(nav, dwell_us=20_000)
    owner = client_for(users.owner)
    job_id = arm(owner, detector, nav, [{"analysis": "sum"}], continuous=True, name="cont")["id"]
    deadline = time.monotonic() + 120
    while LiveSession.objects.get(job_id=job_id).scan < 2:  # two scans have ended
        assert time.monotonic() < deadline, "the scans did not repeat"
        time.sleep(0.05)
    assert owner.post(f"/api/live/sessions/{job_id}/stop/").status_code == 200
    job = wait_terminal(job_id, timeout=120)
    assert job.status == Job.Status.FINISHED, job.error

    session = LiveSession.objects.get(job=job)
    assert session.state == "stopped" and session.scan >= 2
    dataset = Dataset.objects.get(pk=job.dataset_id)
    assert dataset.status == "ready"
    recording = Path(dataset.path).parent
    assert recording.parent == Path(session.record_path)
    assert recording.name.startswith("scan-")
    # only the latest complete scan stays (the one stopped mid-way was removed)
    assert [p.name for p in Path(session.record_path).iterdir()] == [recording.name]
    assert (recording / "frames.raw").read_bytes() == frames.astype(">u2").tobytes()
    assert open_dataset(dataset.path).extra["metadata"]["live"]["state"] == "complete"
    got = results_of(job)
    np.testing.assert_array_equal(got["0-sum-sum"], frames.reshape(-1, SIG, SIG).sum(axis=0))


def test_a_dectris_session_records_the_decompressed_frames(
    client_for, users, data_root, thread_runner, simulators, tmp_path
):
    from tests.dectris_capture import bslz4_capture

    nav = (4, 6)
    frames = np.random.default_rng(9).poisson(3.0, size=(24, 48, 40)).astype("<u4")
    sim = simulators.dectris(bslz4_capture(tmp_path / "gen.capture", frames))
    (data_root / "live").mkdir()
    folder, _ = folder_declare(path=str(data_root / "live"), groups=["lab"])
    detector = Detector.objects.create(
        name="arina-sim",
        kind="dectris",
        host="127.0.0.1",
        data_port=sim.ports["zmq"],
        control_port=sim.ports["api"],
        trigger_mode="exte",
        sig_shape=[48, 40],
        folder=folder,
    )
    detector.groups.add(users.lab)
    body = arm(client_for(users.owner), detector, nav, [{"analysis": "sum"}], name="arina")
    job = wait_terminal(body["id"], timeout=120)
    assert job.status == Job.Status.FINISHED, job.error
    np.testing.assert_array_equal(results_of(job)["0-sum-sum"], frames.sum(axis=0))
    dataset = Dataset.objects.get(pk=job.dataset_id)
    assert (dataset.status, dataset.origin, dataset.dtype) == ("ready", "live", "<u4")
    raw = (Path(dataset.path).parent / "frames.raw").read_bytes()
    assert raw == frames.tobytes()
