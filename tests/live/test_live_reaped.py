"""A live session whose worker was lost is failed by the reaper, never queued again: a scan
cannot be received twice, and a second attempt would meet the first one's recording."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.acquisition.models import Detector, LiveSession
from apps.datasets.folders import folder_declare
from apps.datasets.models import Dataset
from apps.jobs import reaper
from apps.jobs.models import Job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


def test_a_stalled_live_session_fails_with_attempts_left(users, dataset, data_root, settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 60
    settings.JOB_MAX_ATTEMPTS = 3
    (data_root / "live").mkdir()
    folder, _ = folder_declare(path=str(data_root / "live"), groups=["lab"])
    detector = Detector.objects.create(
        name="merlin",
        kind="merlin",
        host="127.0.0.1",
        data_port=6342,
        sig_shape=[8, 8],
        folder=folder,
    )
    Dataset.objects.filter(pk=dataset.pk).update(status=Dataset.Status.RECORDING)
    now = timezone.now()
    job = Job.objects.create(
        owner=users.owner,
        dataset=dataset,
        kind="live",
        status="running",
        attempt=1,
        started=now - timedelta(seconds=90),
        heartbeat=now - timedelta(seconds=61),
    )
    session = LiveSession.objects.create(
        job=job,
        detector=detector,
        nav_shape=[2, 2],
        analyses=[{"analysis": "sum", "params": {}}],
        folder=folder,
        name="rec",
        record_path=str(data_root / "live" / "rec"),
    )
    report = reaper.reap()
    job.refresh_from_db()
    session.refresh_from_db()
    assert report.failed == [job.pk] and report.requeued == []
    assert (job.status, job.attempt) == ("failed", 1)
    assert "no heartbeat for 60 s" in job.error
    assert "a live session is never run again" in job.error
    assert session.state == LiveSession.State.FAILED
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.ERROR
    assert "never run again" in dataset.error
