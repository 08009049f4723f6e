"""The reaper on the embedded default (no services): stalled jobs are retried or failed,
forgotten queued jobs are enqueued again, and every step is a guarded update."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.jobs import driver, reaper
from apps.jobs.models import Job
from apps.results.models import Result
from tests.jobs.support import wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


@pytest.fixture
def reaper_settings(settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 60
    settings.JOB_QUEUED_TIMEOUT = 120
    settings.JOB_MAX_ATTEMPTS = 2
    return settings


def make_job(dataset, *, status="queued", attempt=0, heartbeat_age=None, created_age=0.0, **kw):
    now = timezone.now()
    job = Job.objects.create(
        owner=dataset.owner,
        dataset=dataset,
        analysis="sum",
        status=status,
        attempt=attempt,
        frames_total=dataset.n_frames,
        heartbeat=None if heartbeat_age is None else now - timedelta(seconds=heartbeat_age),
        started=now if status == "running" else None,
        **kw,
    )
    Job.objects.filter(pk=job.pk).update(created=now - timedelta(seconds=created_age))
    job.refresh_from_db()
    return job


def test_it_requeues_a_stalled_job_with_attempts_left(dataset, reaper_settings, held_jobs):
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=61, created_age=100)
    Result.objects.create(job=job, name="sum", dtype="<f4", shape=[1], nbytes=4, data=b"x")
    report = reaper.reap()
    job.refresh_from_db()
    assert (job.status, job.attempt, job.started) == ("queued", 1, None)
    assert "no heartbeat for 60 s" in job.error
    assert report.requeued == [job.pk]
    assert held_jobs.ids == [job.pk]  # handed to the runner again
    assert not Result.objects.filter(job=job).exists()


def test_it_fails_a_stalled_job_on_its_last_attempt(dataset, reaper_settings, held_jobs):
    job = make_job(dataset, status="running", attempt=2, heartbeat_age=61)
    report = reaper.reap()
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("The worker running this job stopped responding")
    assert "attempt 2 of 2" in job.error
    assert job.finished is not None
    assert report.failed == [job.pk]


def test_it_cancels_a_stalled_job_whose_cancel_was_requested(dataset, reaper_settings):
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=61, cancel_requested=True)
    reaper.reap()
    job.refresh_from_db()
    assert (job.status, job.error) == ("cancelled", "cancelled")


def test_it_leaves_a_job_with_a_fresh_heartbeat_alone(dataset, reaper_settings, held_jobs):
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=59)
    report = reaper.reap()
    job.refresh_from_db()
    assert (job.status, report.requeued, report.failed) == ("running", [], [])


def test_it_enqueues_a_forgotten_queued_job_once_per_timeout(dataset, reaper_settings, held_jobs):
    old = make_job(dataset, created_age=121)
    make_job(dataset, created_age=10)  # young: its own message is still on the way
    assert reaper.reap().enqueued == [old.pk]
    assert held_jobs.ids == [old.pk]
    assert reaper.reap().enqueued == []  # enqueued just now: not again before the timeout


def test_it_does_not_touch_a_job_a_newer_attempt_claimed(dataset, reaper_settings):
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=61)
    stale_view = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(attempt=2, heartbeat=timezone.now())
    assert reaper._reap_stalled(stale_view, stale=timezone.now(), now=timezone.now()) is None
    job.refresh_from_db()
    assert (job.status, job.attempt) == ("running", 2)


def test_it_reruns_a_requeued_job_to_one_set_of_results(dataset, reaper_settings, inline_executor):
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=61, created_age=100)
    reaper.reap()  # requeued, then run by the thread runner
    job = wait_terminal(job.pk)
    assert (job.status, job.attempt) == ("finished", 2)
    assert sorted(Result.objects.filter(job=job).values_list("name", flat=True)) == [
        "max",
        "mean",
        "sum",
    ]


def test_it_runs_in_a_timer_thread(dataset, settings, held_jobs):
    settings.JOB_HEARTBEAT_TIMEOUT = 60
    settings.JOB_MAX_ATTEMPTS = 1
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=61)
    thread = reaper.ReaperThread(interval=0.05)
    thread.start()
    try:
        assert wait_terminal(job.pk, timeout=10).status == "failed"
    finally:
        thread.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_the_driver_writes_heartbeats_while_no_partition_completes(dataset, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    job = make_job(dataset, status="running", attempt=1, heartbeat_age=300)
    with driver.Heartbeat(job):
        deadline = timezone.now() + timedelta(seconds=5)
        while Job.objects.get(pk=job.pk).heartbeat < timezone.now() - timedelta(seconds=1):
            assert timezone.now() < deadline, "no heartbeat was written"
    beat = Job.objects.get(pk=job.pk).heartbeat
    assert timezone.now() - beat < timedelta(seconds=2)
