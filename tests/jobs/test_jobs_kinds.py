"""Job kinds through the one driver: the registry, the finish retried for every kind, the one
heartbeat writer, and the kind's finish hook on every ending (driver and reaper alike)."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from apps.datasets.models import Dataset
from apps.jobs import driver, progress, queue, reaper
from apps.jobs.ingestion import dataset_ingest
from apps.jobs.kinds import KINDS, job_kind
from apps.jobs.kinds.base import Ending, JobRun, Outcome, UnknownJobKind
from apps.jobs.models import Job
from apps.results.models import Result
from apps.results.store import result_array
from tests.datasets.test_ingest_api import h5_dataset  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("thread_runner", "inline_executor"),
]


def analysis_job(dataset: Dataset) -> Job:
    return Job.objects.create(
        owner=dataset.owner, dataset=dataset, analysis="sum", frames_total=dataset.n_frames
    )


def ingest_job(dataset: Dataset) -> Job:
    return dataset_ingest(user=dataset.owner, dataset=dataset, partitions=3, enqueue=False)


def test_every_kind_of_job_has_a_body_and_a_finish():
    expected = ["analysis", "ingest", "live", "reused", "thumbnail"]
    assert sorted(KINDS) == sorted(Job.Kind.values) == expected
    assert all(job_kind(name).name == name for name in Job.Kind.values)


def test_the_registry_refuses_an_unknown_kind_naming_it_and_the_known_ones():
    with pytest.raises(UnknownJobKind) as refused:
        job_kind("tomography")
    assert (
        str(refused.value)
        == "Job kind 'tomography' is unknown; the kinds are analysis, ingest, live, reused, "
        "thumbnail."
    )
    with pytest.raises(UnknownJobKind, match="Job kind None is unknown"):
        job_kind(None)


def test_a_job_of_an_unknown_kind_fails_with_that_sentence(dataset):
    job = analysis_job(dataset)
    Job.objects.filter(pk=job.pk).update(kind="tomography")
    driver.run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempt) == ("failed", 1)
    assert (
        job.error
        == "Job kind 'tomography' is unknown; the kinds are analysis, ingest, live, reused, "
        "thumbnail."
    )
    assert job.finished is not None


def lose_the_connection() -> None:
    """What a restarted or failed-over server does to the session in the middle of a statement
    (PostgreSQL: really; SQLite has no server, so the error is raised as psycopg would)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize("kind", ["analysis", "ingest"])
def test_a_finish_that_loses_the_database_once_is_retried_and_finishes(
    kind, request, data, monkeypatch
):
    real = KINDS[kind]
    calls: list[str] = []

    def finish_losing_once(job: Job, ending: Ending) -> list[Result]:
        calls.append(ending.status)
        if len(calls) == 1:
            lose_the_connection()  # inside the finishing transaction: it rolls back
        return real.finish(job, ending)

    monkeypatch.setitem(KINDS, kind, dataclasses.replace(real, finish=finish_losing_once))
    if kind == "analysis":
        job = analysis_job(request.getfixturevalue("dataset"))
    else:
        nodes = request.getfixturevalue("nodes")
        h5_dataset = request.getfixturevalue("h5_dataset")
        job = ingest_job(h5_dataset)
    queue.run_queued(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    assert calls == ["finished", "finished"]
    if kind == "analysis":
        assert sorted(Result.objects.filter(job=job).values_list("name", flat=True)) == [
            "max",
            "mean",
            "sum",
        ]
        sums = data.reshape(-1, *data.shape[-2:]).sum(axis=0)
        stored = Result.objects.get(job=job, name="sum")
        np.testing.assert_allclose(result_array(stored), sums, rtol=1e-6)
    else:
        h5_dataset.refresh_from_db()
        assert (h5_dataset.status, h5_dataset.format) == ("ready", "raw")
        assert Path(h5_dataset.path).parent == Path(nodes["node-a"]).parent.parent / "ingested"
        assert job.frames_done == job.frames_total == h5_dataset.n_frames
        assert len(job.partitions) == 3


@pytest.mark.parametrize("kind", ["analysis", "ingest"])
def test_a_body_that_loses_the_database_while_opening_its_data_retries_and_finishes(
    kind, request, data, monkeypatch
):
    # The server restarts just after the claim: the body's first statement (the owner's data
    # folders, read to check the files again) meets the lost connection.
    from apps.datasets import services

    real = services.read_scope
    calls: list[str] = []

    def read_scope_losing_once(path: str, owner: Any) -> Any:
        calls.append(path)
        if len(calls) == 1:
            lose_the_connection()
        return real(path, owner)

    monkeypatch.setattr(services, "read_scope", read_scope_losing_once)
    if kind == "analysis":
        job = analysis_job(request.getfixturevalue("dataset"))
    else:
        request.getfixturevalue("nodes")
        job = ingest_job(request.getfixturevalue("h5_dataset"))
    queue.run_queued(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempt, job.error) == ("finished", 1, "")
    assert len(calls) == 2 and calls[0] == calls[1]


def record_heartbeats(seconds: float, looks: int = 0) -> Any:
    """A body that reads its job's heartbeat for ``seconds`` (and at least ``looks`` times, however
    slow the machine), asking whether to stop meanwhile (as the executor does), and keeps every
    value it saw."""
    seen: list[Any] = []

    def body(run: JobRun) -> Outcome:
        end = time.monotonic() + seconds
        while time.monotonic() < end or len(seen) < looks:
            run.should_stop()
            seen.append(Job.objects.values_list("heartbeat", flat=True).get(pk=run.job.pk))
            time.sleep(0.02)
        # no results, and no cache key
        return Outcome(frames=run.job.frames_total, nbytes=0, payload=({}, ""))

    return body, seen


def test_the_heartbeat_is_written_every_job_heartbeat_seconds(dataset, settings, monkeypatch):
    settings.JOB_HEARTBEAT_SECONDS = 0.25
    body, seen = record_heartbeats(1.4)
    monkeypatch.setitem(KINDS, "analysis", dataclasses.replace(KINDS["analysis"], body=body))
    job = analysis_job(dataset)
    driver.run_job(job.pk)
    assert Job.objects.get(pk=job.pk).status == "finished"
    beats = sorted(set(seen))
    assert 4 <= len(beats) <= 7, beats  # the claim's, then one every 0.25 s
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]
    assert min(gaps) >= 0.2, gaps  # never more often than the setting
    assert statistics.median(gaps) < 0.6, gaps  # and not at a pace of its own (was 5 s)


def test_nothing_but_the_heartbeat_writes_the_heartbeat(dataset, settings, monkeypatch):
    """The stop check (polled all along) once wrote a heartbeat every 5 s of its own clock."""
    settings.JOB_HEARTBEAT_SECONDS = 60
    ticks = iter(range(0, 10**6, 7))  # 7 s pass between any two looks at the stop check's clock
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    body, seen = record_heartbeats(0.6, looks=11)
    monkeypatch.setitem(KINDS, "analysis", dataclasses.replace(KINDS["analysis"], body=body))
    job = analysis_job(dataset)
    driver.run_job(job.pk)
    assert Job.objects.get(pk=job.pk).status == "finished"
    assert len(seen) > 10 and len(set(seen)) == 1  # the claim's only


def test_a_cancelled_ingestion_leaves_the_dataset_in_error_and_no_sidecar(h5_dataset, nodes):  # noqa: F811
    job = ingest_job(h5_dataset)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # seen at the first stop check
    queue.run_queued(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == ("cancelled", "cancelled")
    h5_dataset.refresh_from_db()
    assert (h5_dataset.status, h5_dataset.format) == ("error", "hdf5")
    assert h5_dataset.error == "Ingestion cancelled: cancelled. Run it again to finish it."
    assert not list((Path(nodes["node-a"]).parent.parent / "ingested").glob("*.json"))


def test_the_reaper_ends_a_stalled_ingestion_through_its_kind(h5_dataset, nodes, settings):  # noqa: F811
    settings.JOB_HEARTBEAT_TIMEOUT = 60
    settings.JOB_MAX_ATTEMPTS = 1
    job = ingest_job(h5_dataset)
    stale = timezone.now() - timedelta(seconds=61)
    Job.objects.filter(pk=job.pk).update(status="running", attempt=1, heartbeat=stale)
    Dataset.objects.filter(pk=h5_dataset.pk).update(status="ingesting")
    assert reaper.reap().failed == [job.pk]
    job.refresh_from_db()
    h5_dataset.refresh_from_db()
    assert job.status == "failed" and "attempt 1 of 1" in job.error
    assert h5_dataset.status == "error"  # was left "ingesting" for good: it could not be ingested
    assert h5_dataset.error.startswith("Ingestion failed: The worker running this job stopped")


def test_an_ingest_job_cannot_be_rerun_as_an_analysis(users, client_for, h5_dataset, nodes):  # noqa: F811
    job = ingest_job(h5_dataset)
    response = client_for(users.owner).post(f"/api/jobs/{job.pk}/rerun/")
    assert response.status_code == 400, response.content
    assert "is an ingest job, not an analysis" in response.json()["error"]
    body = client_for(users.owner).get(f"/api/jobs/{job.pk}/").json()
    assert (body["kind"], body["analysis"]) == ("ingest", "ingest")


@pytest.mark.parametrize("kind", ["analysis", "ingest"])
def test_a_cancel_after_the_body_before_the_finish_wins_and_keeps_nothing(
    kind, request, monkeypatch
):
    real = KINDS[kind]

    def body_then_cancel(run: JobRun) -> Outcome:
        outcome = real.body(run)
        Job.objects.filter(pk=run.job.pk).update(cancel_requested=True)
        return outcome

    monkeypatch.setitem(KINDS, kind, dataclasses.replace(real, body=body_then_cancel))
    if kind == "analysis":
        job = analysis_job(request.getfixturevalue("dataset"))
    else:
        nodes = request.getfixturevalue("nodes")
        job = ingest_job(request.getfixturevalue("h5_dataset"))
    queue.run_queued(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == ("cancelled", "cancelled")
    assert not Result.objects.filter(job=job).exists()
    if kind == "ingest":
        dataset = Dataset.objects.get(pk=job.dataset_id)
        assert (dataset.status, dataset.format) == ("error", "hdf5")
        assert not list((Path(nodes["node-a"]).parent.parent / "ingested").glob("*.json"))
