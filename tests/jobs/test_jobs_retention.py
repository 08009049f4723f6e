"""Retention: staff delete old results (a command for cron, an admin action); it frees quota."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.jobs.models import Job
from apps.jobs.quotas import QuotaExceeded, quota_check
from apps.results.models import Result
from apps.results.store import partial_save
from tests.jobs.support import submit, wait_terminal
from tests.jobs.test_jobs_quotas import finished_job

pytestmark = pytest.mark.django_db

FRAME = np.arange(16 * 12, dtype=np.float32).reshape(16, 12)  # 768 bytes


@pytest.fixture
def old_and_new(users, dataset):
    """alice: a job ended 40 days ago and one ended yesterday; bob: one ended 40 days ago."""
    return {
        "old": finished_job(
            users.owner, dataset, ended_ago=timedelta(days=40), arrays={"sum": FRAME}
        ),
        "new": finished_job(
            users.owner, dataset, ended_ago=timedelta(days=1), arrays={"sum": FRAME}
        ),
        "bob": finished_job(
            users.member, dataset, ended_ago=timedelta(days=40), arrays={"sum": FRAME}
        ),
    }


def run(*args):
    out = io.StringIO()
    call_command("delete_results", *args, stdout=out)
    return out.getvalue()


def test_it_deletes_the_results_of_jobs_older_than_the_age(old_and_new):
    out = run("--older-than", "30d")
    left = set(Result.objects.values_list("job_id", flat=True))
    assert left == {old_and_new["new"].pk}
    assert out.splitlines()[-1] == "deleted 2 results of 2 jobs, 1.54 kB"
    assert f"job {old_and_new['old'].pk}: sum on scan by alice, ended " in out
    old = Job.objects.get(pk=old_and_new["old"].pk)
    assert old.results_deleted is not None
    assert old.status == "finished"  # the job's record stays
    assert Job.objects.get(pk=old_and_new["new"].pk).results_deleted is None


def test_a_dry_run_deletes_nothing(old_and_new):
    out = run("--older-than", "30", "--dry-run")
    assert out.splitlines()[-1] == "would delete 2 results of 2 jobs, 1.54 kB"
    assert Result.objects.count() == 3
    assert not Job.objects.filter(results_deleted__isnull=False).exists()


def test_user_limits_it_to_those_users(old_and_new):
    out = run("--older-than", "4w", "--user", "bob")
    assert set(Result.objects.values_list("job_id", flat=True)) == {
        old_and_new["old"].pk,
        old_and_new["new"].pk,
    }
    assert out.splitlines()[-1] == "deleted 1 results of 1 jobs, 768 bytes"
    with pytest.raises(CommandError, match="--user: no user named nobody"):
        run("--older-than", "4w", "--user", "nobody")


@pytest.mark.parametrize("age", ["90 days", "-3", "d", "1y", ""])
def test_it_refuses_an_age_it_cannot_read(age):
    with pytest.raises(CommandError, match="--older-than must be a whole number of days"):
        run("--older-than", age)


def test_a_running_jobs_preview_is_never_deleted(users, dataset):
    running = Job.objects.create(owner=users.owner, dataset=dataset, status="running")
    partial_save(job=running, name="sum", array=FRAME)
    run("--older-than", "0h")
    assert Result.objects.filter(job=running, partial=True).count() == 1


def test_deleting_frees_the_quota(users, dataset, old_and_new, settings):
    settings.QUOTA_USER_RESULT_BYTES = 1536
    with pytest.raises(QuotaExceeded, match=r"1\.54 kB of 1\.54 kB"):
        quota_check(users.owner)
    run("--older-than", "30d", "--user", "alice")
    quota_check(users.owner)  # 768 of 1536 bytes


def test_staffs_admin_action_deletes_the_selected_jobs_results(old_and_new, client_for, users):
    new = old_and_new["new"]
    admin = User.objects.create_superuser("admin", password="pw-admin-123")
    reply = client_for(admin).post(
        "/admin/jobs/job/",
        {"action": "delete_results", "_selected_action": [new.pk]},
        follow=True,
    )
    assert "Deleted 1 results of 1 jobs, 768 bytes; the jobs stay listed." in reply.content.decode()
    assert not Result.objects.filter(job=new).exists()
    assert Result.objects.count() == 2


def test_a_job_whose_results_were_deleted_says_so(old_and_new, client_for, users):
    old = old_and_new["old"]
    run("--older-than", "30d")
    client = client_for(users.owner)
    page = client.get(f"/jobs/{old.pk}/").content.decode()
    assert 'id="results-deleted"' in page
    data = client.get(f"/api/jobs/{old.pk}/").json()
    assert data["results"] == []
    assert data["results_deleted"] is not None
    assert data["thumbnail"] is None
    assert client.get(f"/api/jobs/{old.pk}/results/sum.npy").status_code == 404
    assert client.get(f"/api/jobs/{old.pk}/thumbnail.png").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("thread_runner")
def test_the_cache_never_answers_from_deleted_results(users, client_for, dataset, inline_executor):
    client = client_for(users.owner)
    disk = {"shape": "disk", "cx": 6.0, "cy": 8.0, "r": 3.0}
    first = wait_terminal(submit(client, dataset, "virtual", disk).json()["id"])
    copy = wait_terminal(submit(client, dataset, "virtual", disk).json()["id"])
    assert (first.kind, copy.kind, copy.reused_from_id) == ("analysis", "reused", first.pk)
    before = bytes(Result.objects.get(job=first, name="intensity", partial=False).data)
    Job.objects.filter(pk__in=[first.pk, copy.pk]).update(
        finished=timezone.now() - timedelta(days=2)
    )
    assert run("--older-than", "1d").splitlines()[-1].startswith("deleted 2 results of 2 jobs")
    again = wait_terminal(submit(client, dataset, "virtual", disk).json()["id"])
    assert again.status == "finished", again.error
    assert (again.kind, again.reused_from_id) == ("analysis", None)
    assert again.bytes_read > 0  # computed from the file
    after = bytes(Result.objects.get(job=again, name="intensity", partial=False).data)
    assert after == before
