"""Quotas: result-store bytes and compute seconds per user and per group, refused at submit."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from apps.accounts.models import Quota
from apps.jobs.models import Job
from apps.jobs.quotas import QuotaExceeded, compute_seconds_used, quota_check, user_quotas
from apps.results.models import Result
from apps.results.store import results_replace
from tests.jobs.support import submit, submit_ingest, wait_terminal

pytestmark = pytest.mark.django_db


def finished_job(owner, dataset, *, seconds=10.0, ended_ago=timedelta(hours=1), arrays=None):
    """A finished job of ``owner`` that ran ``seconds``, with ``arrays`` as its results."""
    finished = timezone.now() - ended_ago
    job = Job.objects.create(
        owner=owner,
        dataset=dataset,
        analysis="sum",
        status=Job.Status.FINISHED,
        started=finished - timedelta(seconds=seconds),
        finished=finished,
    )
    results_replace(job=job, results=arrays or {})
    return job


def test_it_counts_the_bytes_of_final_results_only(users, dataset):
    job = finished_job(users.owner, dataset, arrays={"sum": np.zeros((16, 12), np.float64)})
    Result.objects.create(
        job=job, name="preview", dtype="<f4", shape=[4], nbytes=16, data=b"", partial=True
    )
    uses = {(u.scope, u.holder, u.kind): u.used for u in user_quotas(users.owner)}
    assert uses[("user", "alice", "result_bytes")] == 16 * 12 * 8
    assert uses[("user", "alice", "compute_seconds")] == pytest.approx(10.0)
    # the group "lab" of alice and bob: bob has nothing yet
    assert uses[("group", "lab", "result_bytes")] == 16 * 12 * 8


def test_it_refuses_a_job_over_the_users_result_quota_saying_used_and_limit(
    users, client_for, dataset, settings
):
    settings.QUOTA_USER_RESULT_BYTES = 1000
    finished_job(users.owner, dataset, arrays={"sum": np.zeros(200, np.float64)})  # 1600 B
    before = Job.objects.count()
    reply = submit(client_for(users.owner), dataset, "sum")
    assert reply.status_code == 403
    body = reply.json()
    assert body["error"] == (
        "Your result store quota is used up: 1.6 kB of 1 kB. Delete old results or ask staff "
        "to raise the quota."
    )
    assert body["fields"] == {"quota": "user alice: result_bytes 1600 of 1000"}
    assert Job.objects.count() == before
    # bob, in the same group, has no results: the user quota is alice's alone
    assert submit(client_for(users.member), dataset, "sum").status_code == 202


def test_a_users_own_limit_replaces_the_default_and_zero_is_no_limit(
    users, client_for, dataset, settings, held_jobs
):
    settings.QUOTA_USER_RESULT_BYTES = 1000
    finished_job(users.owner, dataset, arrays={"sum": np.zeros(200, np.float64)})
    quota = Quota.objects.create(user=users.owner, result_bytes=0)
    assert submit(client_for(users.owner), dataset, "sum").status_code == 202
    quota.result_bytes = 1601
    quota.save()
    assert submit(client_for(users.owner), dataset, "sum").status_code == 202
    quota.result_bytes = 1600
    quota.save()
    assert submit(client_for(users.owner), dataset, "sum").status_code == 403


def test_a_group_quota_counts_all_its_members(users, client_for, dataset, held_jobs):
    lab = Group.objects.get(name="lab")
    Quota.objects.create(group=lab, compute_seconds=60)
    finished_job(users.member, dataset, seconds=40)
    finished_job(users.owner, dataset, seconds=25)
    reply = submit(client_for(users.owner), dataset, "sum")
    assert reply.status_code == 403
    assert reply.json()["error"].startswith(
        "The group lab's compute time quota is used up: 1.08 min of 1 min in the last 30 days."
    )
    assert reply.json()["fields"]["quota"] == "group lab: compute_seconds 65 of 60"


def test_the_catalogues_thumbnail_jobs_cost_their_owner_no_compute_time(users, dataset):
    finished_job(users.owner, dataset, seconds=20)
    Job.objects.filter(pk=finished_job(users.owner, dataset, seconds=500).pk).update(
        kind=Job.Kind.THUMBNAIL
    )
    assert compute_seconds_used([users.owner.pk]) == pytest.approx(20)


def test_compute_seconds_count_only_jobs_that_ended_within_the_period(users, dataset, settings):
    settings.QUOTA_USER_COMPUTE_SECONDS = 30
    settings.QUOTA_COMPUTE_DAYS = 7
    finished_job(users.owner, dataset, seconds=1000, ended_ago=timedelta(days=8))
    finished_job(users.owner, dataset, seconds=20)
    quota_check(users.owner)  # 20 of 30
    running = Job.objects.create(
        owner=users.owner,
        dataset=dataset,
        analysis="sum",
        status=Job.Status.RUNNING,
        started=timezone.now() - timedelta(seconds=15),
    )
    # 35 s, or a tenth more when the test itself is slow (the running job's clock runs on)
    with pytest.raises(QuotaExceeded, match=r"35(\.\d)? s of 30 s in the last 7 days") as refused:
        quota_check(users.owner)
    assert refused.value.use.used == pytest.approx(35, abs=1)
    running.delete()
    quota_check(users.owner)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("thread_runner")
def test_a_finished_jobs_results_and_run_time_count(users, client_for, dataset, inline_executor):
    client = client_for(users.owner)
    job = wait_terminal(submit(client, dataset, "sum").json()["id"])
    assert job.status == "finished"
    rows = Result.objects.filter(job=job, partial=False)
    assert sorted(rows.values_list("name", flat=True)) == ["max", "mean", "sum"]
    stored = sum(np.dtype(r.dtype).itemsize * int(np.prod(r.shape)) for r in rows)
    assert stored >= 3 * 16 * 12
    usage = client.get("/api/usage/").json()
    mine = {q["kind"]: q for q in usage["quotas"] if q["scope"] == "user"}
    assert mine["result_bytes"]["used"] == stored
    assert mine["result_bytes"]["limit"] is None
    seconds = (job.finished - job.started).total_seconds()
    assert mine["compute_seconds"]["used"] == pytest.approx(seconds)
    assert usage["compute_days"] == 30


def test_the_rerun_button_says_why_a_job_is_refused(users, client_for, dataset, settings):
    old = finished_job(users.owner, dataset, arrays={"sum": np.zeros(200, np.float64)})
    settings.QUOTA_USER_RESULT_BYTES = 100
    client = client_for(users.owner)
    reply = client.post(f"/jobs/{old.pk}/rerun/", follow=True)
    assert "The job cannot run again: Your result store quota is used up: 1.6 kB of 100 bytes" in (
        reply.content.decode()
    )
    assert client.post(f"/api/jobs/{old.pk}/rerun/").status_code == 403
    assert Job.objects.count() == 1


def test_an_ingestion_is_held_by_the_compute_quota_only(
    users, client_for, dataset, nodes, settings
):
    finished_job(users.owner, dataset, seconds=100, arrays={"sum": np.zeros(200, np.float64)})
    settings.QUOTA_USER_RESULT_BYTES = 100  # used up, but an ingestion stores no results
    settings.QUOTA_USER_COMPUTE_SECONDS = 50
    reply = submit_ingest(client_for(users.owner), dataset)
    assert reply.status_code == 403
    assert "compute time quota is used up: 1.67 min of 50 s" in reply.json()["error"]


def test_the_usage_page_shows_used_and_limit(users, client_for, dataset, settings):
    settings.QUOTA_USER_RESULT_BYTES = 10_000
    finished_job(users.owner, dataset, arrays={"sum": np.zeros(1000, np.float64)})
    page = client_for(users.owner).get("/usage/").content.decode()
    assert 'data-scope="user" data-holder="alice" data-kind="result_bytes"' in page
    assert '<td class="quota-used">8 kB</td>' in page
    assert '<td class="quota-limit">10 kB</td>' in page
    assert 'data-scope="group" data-holder="lab"' in page
    assert "Everyone's usage" not in page  # staff only


def test_staff_see_everyones_usage_and_nobody_else_does(users, client_for, dataset):
    finished_job(users.member, dataset, arrays={"sum": np.zeros(1000, np.float64)})
    Quota.objects.create(user=users.member, result_bytes=16_000)
    page = client_for(users.staff).get("/usage/all/").content.decode()
    row = page.split('data-holder="bob" data-kind="result_bytes"')[1].split("</tr>")[0]
    assert '<td class="quota-used">8 kB</td>' in row
    assert '<td class="quota-limit">16 kB</td>' in row
    assert 'value="0.500"' in row
    lab = page.split('data-scope="group" data-holder="lab" data-kind="result_bytes"')[1]
    assert '<td class="quota-used">8 kB</td>' in lab.split("</tr>")[0]
    assert client_for(users.owner).get("/usage/all/").status_code == 404


def test_the_admin_takes_a_quota_for_a_user_or_a_group_never_both(users, client_for):
    admin = client_for(User.objects.create_superuser("admin", password="pw-admin-123"))
    lab = Group.objects.get(name="lab")
    both = {"user": users.owner.pk, "group": lab.pk, "result_bytes": "10", "compute_seconds": ""}
    reply = admin.post("/admin/accounts/quota/add/", both)
    assert reply.status_code == 200  # the form again, with the constraint's error
    assert "A quota is for one user or for one group: choose one of them." in reply.content.decode()
    assert not Quota.objects.exists()
    reply = admin.post("/admin/accounts/quota/add/", {**both, "user": ""})
    assert reply.status_code == 302
    quota = Quota.objects.get()
    assert (quota.group, quota.result_bytes, quota.compute_seconds) == (lab, 10, None)


def test_without_limits_a_submission_counts_nothing(users, dataset, django_assert_num_queries):
    finished_job(users.owner, dataset, arrays={"sum": np.zeros(200, np.float64)})
    with django_assert_num_queries(1):  # the quota rows of the user and of its groups
        quota_check(users.owner)


def test_the_users_own_row_and_a_groups_row_are_both_obeyed(users, dataset):
    lab = Group.objects.get(name="lab")
    other = Group.objects.create(name="another")
    users.owner.groups.add(other)
    Quota.objects.create(user=users.owner, compute_seconds=0)  # no limit of her own
    Quota.objects.create(group=other, compute_seconds=0)
    Quota.objects.create(group=lab, compute_seconds=30)
    quota_check(users.owner)
    finished_job(users.member, dataset, seconds=31)
    with pytest.raises(QuotaExceeded) as refused:
        quota_check(users.owner)
    assert (refused.value.use.scope, refused.value.use.holder) == ("group", "lab")
    assert Quota.objects.filter(group=lab).update(compute_seconds=None) == 1  # the default: 0
    quota_check(users.owner)


def test_a_group_default_holds_groups_without_a_row(users, dataset, settings):
    settings.QUOTA_GROUP_COMPUTE_SECONDS = 30
    Quota.objects.create(user=users.owner, compute_seconds=0)
    quota_check(users.owner)
    finished_job(users.member, dataset, seconds=31)
    with pytest.raises(QuotaExceeded) as refused:
        quota_check(users.owner)
    assert (refused.value.use.scope, refused.value.use.holder, refused.value.use.limit) == (
        "group",
        "lab",
        30,
    )
