"""The result cache: an identical finished job answers a submission with byte copies of its
results (a job of the kind reused); a changed file, parameter, ROI or engine version, deleted
results, or a job the user may not see is a miss, computed anew."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import frames, submit, wait_terminal

import apps.core
from apps.datasets.models import Dataset
from apps.jobs.models import Job
from apps.results.models import Result

DISK = {"shape": "disk", "cx": 6.0, "cy": 8.0, "r": 3.0}
RECT = {"shape": "rect", "y": 1, "x": 2, "height": 3, "width": 4}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


def stored(job: Job) -> dict[str, bytes]:
    return {r.name: bytes(r.data) for r in Result.objects.filter(job=job, partial=False)}


def touch(dataset: Dataset, **_: Any) -> None:
    st = os.stat(dataset.path)
    os.utime(dataset.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def rewrite(dataset: Dataset, **_: Any) -> None:
    np.save(dataset.path, frames(seed=5))


def delete_results(dataset: Dataset, *, first: Job, **_: Any) -> None:
    Result.objects.filter(job=first).delete()


def new_engine(dataset: Dataset, *, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    monkeypatch.setattr(apps.core, "ENGINE_VERSION", "0.1.1")


def nothing(dataset: Dataset, **_: Any) -> None:
    pass


#: (case, what happens after the first job, who submits, the second body, reused?)
CASES: list[tuple[str, Callable[..., None], str, dict[str, Any], bool]] = [
    ("identical", nothing, "owner", {"params": DISK}, True),
    ("64 and 64.0", nothing, "owner", {"params": {**DISK, "cx": 6, "r": 3}}, True),
    ("parameter", nothing, "owner", {"params": {**DISK, "cx": 6.00001}}, False),
    ("roi", nothing, "owner", {"params": DISK, "roi": RECT}, False),
    ("touched file", touch, "owner", {"params": DISK}, False),
    ("changed file", rewrite, "owner", {"params": DISK}, False),
    ("engine version", new_engine, "owner", {"params": DISK}, False),
    ("deleted results", delete_results, "owner", {"params": DISK}, False),
    ("reuse false", nothing, "owner", {"params": DISK, "reuse": False}, False),
    ("member, job not shared", nothing, "member", {"params": DISK}, False),
    ("staff", nothing, "staff", {"params": DISK}, True),
]


@pytest.mark.parametrize(
    ("case", "change", "who", "body", "reused"), CASES, ids=[c[0] for c in CASES]
)
def test_a_job_is_reused_only_when_everything_it_depends_on_is_equal(
    users, client_for, dataset, inline_executor, monkeypatch, case, change, who, body, reused
):
    owner = client_for(users.owner)
    first = wait_terminal(submit(owner, dataset, "virtual", DISK).json()["id"])
    assert first.status == "finished" and first.kind == "analysis" and first.cache_key
    expected = stored(first)
    change(dataset, first=first, monkeypatch=monkeypatch)
    reply = submit(client_for(getattr(users, who)), dataset, "virtual", **body)
    assert reply.status_code == 202, reply.content
    second = wait_terminal(reply.json()["id"])
    assert second.status == "finished", second.error
    assert second.kind == ("reused" if reused else "analysis")
    if reused:
        assert second.reused_from_id == first.pk and second.cache_key == first.cache_key
        assert stored(second) == expected  # byte copies
        assert (second.bytes_read, second.frames_done) == (0, first.frames_done)
        assert second.provenance == {**first.provenance, "reused_from": first.pk}
        api = client_for(getattr(users, who)).get(f"/api/jobs/{second.pk}/").json()
        assert (api["kind"], api["reused_from"]) == ("reused", first.pk)
        npy = client_for(getattr(users, who)).get(f"/api/jobs/{second.pk}/results/intensity.npy")
        assert npy.content == expected["intensity"]
    else:
        assert second.reused_from_id is None and second.bytes_read > 0
    if case in ("reuse false", "member, job not shared", "deleted results"):
        # computed again from the same file in the same partitions: the same bytes
        assert stored(second) == expected or case == "deleted results"
        assert second.cache_key == first.cache_key
    if case in ("touched file", "changed file", "engine version", "parameter", "roi"):
        assert second.cache_key != first.cache_key
    if case == "changed file":
        assert stored(second)["intensity"] != expected["intensity"]


def test_a_shared_job_is_reused_by_a_member_and_a_hidden_one_never(
    users, client_for, dataset, inline_executor
):
    owner, member = client_for(users.owner), client_for(users.member)
    first = wait_terminal(submit(owner, dataset, "sum").json()["id"])
    owner.post(f"/api/jobs/{first.pk}/share/", {"shared": True}, content_type="application/json")
    hit = wait_terminal(submit(member, dataset, "sum").json()["id"])
    assert (hit.kind, hit.reused_from_id, hit.owner) == ("reused", first.pk, users.member)
    # the dataset unshared: the member cannot submit (404) and the owner's job is out of sight
    dataset.groups.clear()
    assert submit(member, dataset, "sum").status_code == 404


def test_the_outsider_never_gets_another_users_job(
    users, client_for, dataset, other_dataset, inline_executor
):
    """The same file registered twice: eve's job on her row is not reused for alice's."""
    eve = client_for(users.outsider)
    first = wait_terminal(submit(eve, other_dataset, "sum").json()["id"])
    Job.objects.filter(pk=first.pk).update(shared=True)
    mine = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert mine.kind == "analysis"


def test_a_file_changed_while_the_job_ran_is_not_offered_for_reuse(
    users, client_for, dataset, inline_executor, monkeypatch
):
    from apps.jobs.kinds import analysis

    real = analysis.unchanged
    monkeypatch.setattr(analysis, "unchanged", lambda identity: False)
    first = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert first.status == "finished" and first.cache_key == ""
    monkeypatch.setattr(analysis, "unchanged", real)
    second = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert second.kind == "analysis" and second.cache_key


def test_the_identity_is_recorded_at_registration_and_renewed_when_a_file_changes(
    users, client_for, dataset, inline_executor
):
    [entry] = dataset.identity["files"]
    assert entry["path"] == str(Path(dataset.path))
    assert (entry["size"], entry["hash"]) == (os.path.getsize(dataset.path), "full")
    import hashlib

    assert entry["sha256"] == hashlib.sha256(Path(dataset.path).read_bytes()).hexdigest()
    rewrite(dataset)
    wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    dataset.refresh_from_db()
    [renewed] = dataset.identity["files"]
    assert renewed["sha256"] == hashlib.sha256(Path(dataset.path).read_bytes()).hexdigest()
    assert renewed["sha256"] != entry["sha256"]


def test_the_job_pages_say_reused(users, client_for, dataset, inline_executor):
    owner = client_for(users.owner)
    first = wait_terminal(submit(owner, dataset, "sum").json()["id"])
    hit = wait_terminal(submit(owner, dataset, "sum").json()["id"])
    page = owner.get(f"/jobs/{hit.pk}/").content.decode()
    assert 'id="job-reused"' in page and f'href="/jobs/{first.pk}/"' in page
    assert 'id="job-reused"' not in owner.get(f"/jobs/{first.pk}/").content.decode()
    listing = owner.get("/jobs/").content.decode()
    assert listing.count("(reused)") == 1


def test_dragging_back_to_an_earlier_position_is_a_hit(users, client_for, dataset, inline_executor):
    """The analysis page's edits: each job replaces the one before; back where the shape
    was, the job is answered from that position's finished job."""
    owner = client_for(users.owner)
    here = wait_terminal(submit(owner, dataset, "virtual", DISK).json()["id"])
    moved = {**DISK, "cx": 7.0}
    there = wait_terminal(submit(owner, dataset, "virtual", moved, replaces=here.pk).json()["id"])
    back = submit(owner, dataset, "virtual", DISK, replaces=there.pk).json()["id"]
    back = wait_terminal(back)
    assert (back.kind, back.reused_from_id, back.status) == ("reused", here.pk, "finished")
    assert stored(back) == stored(here) and stored(there) != stored(here)


def test_a_reused_job_sends_its_final_image_with_its_finished_message(
    users, client_for, dataset, inline_executor, monkeypatch
):
    # The page draws the final image from the finished message's .npy instead of fetching it:
    # a hit of the result cache (the fastest answer to a drag) must bring it as well.
    from apps.jobs import driver

    sent: list[tuple[dict[str, Any], bytes | None]] = []
    monkeypatch.setattr(driver, "publish", lambda m, b=None: sent.append((m, b)))
    owner = client_for(users.owner)
    jobs = [wait_terminal(submit(owner, dataset, "virtual", DISK).json()["id"]) for _ in range(2)]
    assert [j.kind for j in jobs] == ["analysis", "reused"]
    for job in jobs:
        [(message, npy)] = [
            (m, b) for m, b in sent if m["type"] == "finished" and m["id"] == job.pk
        ]
        assert message["image"] == "intensity"
        assert npy == stored(job)["intensity"] == stored(jobs[0])["intensity"]


def test_a_key_no_finished_job_has_is_a_miss_found_by_the_key_alone(users):
    """A drag's every new radius is a miss: it is found by the indexed key, without the query
    of the user's visible jobs and their stored results (1-2 ms of CPU to build)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.jobs.cache import reusable_job

    with CaptureQueriesContext(connection) as queries:
        assert reusable_job(user=users.member, key="0" * 64) is None
    [look_up] = [q["sql"] for q in queries.captured_queries]
    assert "cache_key" in look_up and "results_result" not in look_up
