"""The job driver on the embedded runner (a thread of this process): every job ends terminal."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from apps.core import ENGINE_VERSION
from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.jobs import driver
from apps.jobs import executor as job_executor
from apps.jobs.models import Job
from apps.jobs.progress import running_job_update
from apps.results.models import Result
from apps.results.store import StaleAttempt, result_array, results_save
from tests.jobs.support import raw_dataset, submit, wait_progress, wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


class SlowExecutor(InlineExecutor):
    """One frame per partition and a pause after each: a job that runs for a few seconds."""

    def partitions(self, dataset: Any, target_bytes: int = 0, **kw: Any) -> list[Any]:
        return dataset.partitions(count=dataset.n_frames)

    def run(self, dataset: Any, analysis: Any, *, on_progress: Any = None, **kwargs: Any) -> Any:
        def slowly(done: int, total: int, partial: Any) -> None:
            time.sleep(0.05)
            on_progress(done, total, partial)

        return super().run(dataset, analysis, on_progress=slowly, **kwargs)


class TruncatingExecutor(InlineExecutor):
    """Truncates the data file after the driver opened the dataset, before reading it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, dataset: Any, analysis: Any, **kwargs: Any) -> Any:
        os.truncate(self.path, 100)
        return super().run(dataset, analysis, **kwargs)


class CancelAtTheEndExecutor(InlineExecutor):
    """Computes the whole job, then a cancel arrives before the driver stores the results."""

    def run(self, dataset: Any, analysis: Any, **kwargs: Any) -> Any:
        run = super().run(dataset, analysis, **kwargs)
        Job.objects.filter(status=Job.Status.RUNNING).update(cancel_requested=True)
        return run


class BrokenExecutor(InlineExecutor):
    def run(self, dataset: Any, analysis: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the executor broke")


@pytest.fixture
def executor():
    def use(ex: Any) -> Any:
        job_executor.set_executor(ex)
        return ex

    yield use
    job_executor.set_executor(None)


def test_it_runs_a_job_to_finished(users, client_for, dataset, data, inline_executor):
    params = {"shape": "ring", "cx": 6, "cy": 8, "ri": 2, "ro": 5}
    response = submit(client_for(users.owner), dataset, "virtual", params)
    job = wait_terminal(response.json()["id"])
    assert (job.status, job.error) == ("finished", "")
    assert (job.frames_done, job.frames_total, job.attempt) == (48, 48, 1)
    assert job.bytes_read == data.nbytes
    assert job.started <= job.heartbeat <= job.finished
    assert [p["worker"] for p in job.partitions] == ["inline"]
    [row] = Result.objects.filter(job=job)
    ref = InlineExecutor().run(
        open_dataset(dataset.path),
        make_analysis("virtual", params, nav_shape=(6, 8), sig_shape=(16, 12), dtype="<u2"),
    )
    np.testing.assert_array_equal(result_array(row), ref.results["intensity"])
    yy, xx = np.mgrid[:16, :12]
    d2 = (yy - 8) ** 2 + (xx - 6) ** 2
    expected = np.einsum(
        "nmyx,yx->nm", data.astype(np.float64), ((d2 > 4) & (d2 <= 25)).astype(float)
    )
    np.testing.assert_allclose(result_array(row), expected, rtol=1e-5)


def test_it_leaves_positions_outside_the_roi_nan(users, client_for, dataset, inline_executor):
    roi = {"shape": "rect", "y": 1, "x": 2, "height": 3, "width": 4}
    response = submit(
        client_for(users.owner), dataset, "virtual", {"shape": "point", "y": 3, "x": 4}, roi=roi
    )
    job = wait_terminal(response.json()["id"])
    assert job.status == "finished"
    assert (job.frames_done, job.frames_total) == (12, 12)
    intensity = result_array(job.results.get(name="intensity"))
    assert np.isfinite(intensity[1:4, 2:6]).all()
    assert np.isnan(intensity).sum() == 48 - 12


def test_it_cancels_a_running_job(users, client_for, dataset, executor):
    executor(SlowExecutor())
    job_id = submit(client_for(users.owner), dataset, "sum").json()["id"]
    wait_progress(job_id)  # a partition or more is done (the first sum also loads numba)
    time.sleep(0.1)  # and a partial preview is stored
    assert client_for(users.owner).post(f"/api/jobs/{job_id}/cancel/").status_code == 200
    job = wait_terminal(job_id, timeout=10)
    assert (job.status, job.error) == ("cancelled", "cancelled")
    assert 0 < job.frames_done < 48
    assert Result.objects.filter(job_id=job_id).count() == 0


def test_a_cancel_before_the_results_are_stored_wins(users, client_for, dataset, executor):
    executor(CancelAtTheEndExecutor())
    job = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert (job.status, job.error, job.cancel_requested) == ("cancelled", "cancelled", True)
    assert Result.objects.filter(job_id=job.pk).count() == 0


def test_it_fails_when_the_file_was_truncated_after_registration(
    users, client_for, data_root, data, executor
):
    executor(InlineExecutor())
    ds = raw_dataset(users.owner, data_root, data)
    os.truncate(ds.path, 1000)
    job = wait_terminal(submit(client_for(users.owner), ds, "sum").json()["id"])
    assert job.status == "failed"
    assert ds.path in job.error
    assert "1000 bytes" in job.error
    assert Result.objects.filter(job=job).count() == 0


def test_it_fails_naming_file_and_partition_when_truncated_while_running(
    users, client_for, data_root, data, executor
):
    ds = raw_dataset(users.owner, data_root, data)
    executor(TruncatingExecutor(ds.path))
    job = wait_terminal(submit(client_for(users.owner), ds, "sum").json()["id"])
    assert job.status == "failed"
    assert ds.path in job.error
    assert "partition 0 (frames 0-47)" in job.error
    assert "truncated" in job.error


def test_it_reports_unexpected_errors_as_internal_errors(
    users, client_for, dataset, executor, caplog
):
    executor(BrokenExecutor())
    job = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert (job.status, job.error) == ("failed", "internal error: RuntimeError: the executor broke")
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


def test_it_runs_a_job_only_once(users, dataset, inline_executor):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
    driver.run_job(job.pk)
    driver.run_job(job.pk)  # a duplicate delivery of the Celery task
    job.refresh_from_db()
    assert (job.status, job.attempt) == ("finished", 1)
    assert sorted(job.results.values_list("name", flat=True)) == ["max", "mean", "sum"]


def test_the_executor_is_prepared_before_the_claim_and_none_is_started_for_it(users, dataset):
    class Preparing(InlineExecutor):
        def prepare(self) -> None:
            claimed.append(Job.objects.get(pk=job.pk).status)

    claimed: list[str] = []
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", status="cancelled")
    old = job_executor.set_executor(None)
    try:
        driver.run_job(job.pk)  # not queued: nothing to run, and no cluster started for it
        assert job_executor.current_executor() is None
        job_executor.set_executor(Preparing())
        job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
        driver.run_job(job.pk)
    finally:
        job_executor.set_executor(old)
    assert claimed == ["queued"]
    assert Job.objects.get(pk=job.pk).status == "finished"


def test_it_does_not_run_a_cancelled_job(users, dataset, inline_executor):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", status="cancelled")
    driver.run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempt, job.results.count()) == ("cancelled", 0, 0)


def test_it_fails_when_an_uploaded_mask_is_gone(users, dataset, inline_executor):
    job = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="masks", params={"masks": 12345}
    )
    driver.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "masks" in job.error


def test_it_keeps_a_stale_attempt_from_writing_results(users, dataset):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", attempt=1)
    stale = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(attempt=2)
    with pytest.raises(StaleAttempt):
        results_save(job=stale, results={"sum": np.zeros(3)})
    assert Result.objects.count() == 0


def test_it_replaces_results_when_saved_twice(users, dataset):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
    results_save(job=job, results={"sum": np.zeros(3), "max": np.ones(3)})
    results_save(job=job, results={"sum": np.full(3, 2.0)})
    [row] = Result.objects.filter(job=job)
    np.testing.assert_array_equal(result_array(row), [2, 2, 2])


def test_a_claim_starts_the_next_attempt_and_returns_the_claimed_row(users, dataset):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", attempt=2)
    Job.objects.filter(pk=job.pk).update(frames_done=7, error="from the last attempt")
    claimed = driver.job_claim(job.pk)
    stored = Job.objects.get(pk=job.pk)
    for row in (claimed, stored):
        assert (row.status, row.attempt, row.frames_done, row.error) == ("running", 3, 0, "")
        assert row.started is not None and row.heartbeat == row.started
    assert claimed.started == stored.started
    assert (claimed.dataset.pk, claimed.owner.pk) == (dataset.pk, users.owner.pk)
    assert driver.job_claim(job.pk) is None  # running now, not queued
    assert Job.objects.get(pk=job.pk).attempt == 3


def test_a_claim_reads_the_job_its_dataset_and_both_owners_as_the_orm_does(
    users, dataset, django_assert_num_queries
):
    job = Job.objects.create(
        owner=users.member, dataset=dataset, analysis="sum", params={"a": [1, 2]}, roi=[[0, 1]]
    )
    claimed = driver.job_claim(job.pk)
    stored = Job.objects.select_related("dataset__owner", "owner").get(pk=job.pk)
    with django_assert_num_queries(0):  # loaded with the job, as select_related loads them
        pairs = [
            (claimed, stored),
            (claimed.dataset, stored.dataset),
            (claimed.dataset.owner, stored.dataset.owner),
            (claimed.owner, stored.owner),
        ]
    for read, orm in pairs:
        fields = type(orm)._meta.concrete_fields
        assert [f.value_from_object(read) for f in fields] == [
            f.value_from_object(orm) for f in fields
        ]
        assert read._state.adding is False and read._state.db == "default"
    assert (claimed.owner.username, claimed.dataset.owner.username) == ("bob", "alice")
    assert claimed.params == {"a": [1, 2]} and claimed.dataset.nav_shape == dataset.nav_shape


def test_the_guarded_update_writes_only_the_running_attempt_not_cancelled(users, dataset):
    job = driver.job_claim(Job.objects.create(owner=users.owner, dataset=dataset).pk)
    now = timezone.now()
    values = {"frames_done": 5, "partitions": [{"index": 0}], "finished": now, "error": "x"}
    stale = Job(pk=job.pk, attempt=job.attempt - 1)
    assert running_job_update(stale, values, not_cancelled=False) == 0
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert running_job_update(job, values, not_cancelled=True) == 0
    assert Job.objects.get(pk=job.pk).frames_done == 0
    assert running_job_update(job, values, not_cancelled=False) == 1
    row = Job.objects.get(pk=job.pk)
    assert (row.frames_done, row.partitions, row.finished, row.error) == (
        5,
        [{"index": 0}],
        now,
        "x",
    )
    Job.objects.filter(pk=job.pk).update(status="finished")
    assert running_job_update(job, values, not_cancelled=False) == 0


def test_a_claim_waits_while_its_owner_runs_the_most_a_reused_job_never(users, dataset, settings):
    settings.MAX_RUNNING_JOBS_PER_USER = 1
    Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", status="running")
    waiting = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
    reused = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="sum", kind=Job.Kind.REUSED
    )
    others = Job.objects.create(owner=users.member, dataset=dataset, analysis="sum")
    assert driver.job_claim(waiting.pk) is None
    assert Job.objects.filter(pk=waiting.pk, status="queued", attempt=0, started=None).exists()
    for job in (reused, others):
        assert driver.job_claim(job.pk).status == "running"
        assert Job.objects.get(pk=job.pk).attempt == 1
    Job.objects.filter(owner=users.owner, kind=Job.Kind.ANALYSIS, status="running").update(
        status="finished"
    )
    assert driver.job_claim(waiting.pk) is None  # the reused job runs: it counts, takes none
    Job.objects.filter(pk=reused.pk).update(status="finished")
    assert driver.job_claim(waiting.pk).attempt == 1


def test_the_final_progress_report_is_published_and_left_to_the_finish_to_write(
    users, dataset, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.jobs import progress

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(progress, "publish", lambda message, binary=None: sent.append(message))
    job = driver.job_claim(
        Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum").pk
    )
    clock = iter([0.0, 1.0, 1.5]).__next__  # started, then one report per second
    report = progress.ProgressReporter(job, preview="mean", frame_bytes=10, clock=clock)
    partial = {"mean": np.ones((16, 12), np.float32)}
    report(12, 48, partial)
    assert Job.objects.get(pk=job.pk).frames_done == 12
    with CaptureQueriesContext(connection) as queries:
        report(48, 48, partial)
    assert len(queries) == 0
    assert [m["type"] for m in sent] == ["progress", "partial", "progress"]
    assert (sent[-1]["done"], sent[-1]["total"]) == (48, 48)
    assert Job.objects.get(pk=job.pk).frames_done == 12


def test_no_preview_is_sent_when_the_result_is_due_within_an_interval(
    users, dataset, monkeypatch, settings
):
    from apps.jobs import progress

    settings.JOB_PROGRESS_INTERVAL = 0.1
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(progress, "publish", lambda message, binary=None: sent.append(message))
    job = driver.job_claim(
        Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum").pk
    )
    # a quarter after 0.2 s: 0.6 s to go; then 45 of 48 after 0.6 s: 0.04 s to go
    clock = iter([0.0, 0.2, 0.6]).__next__
    report = progress.ProgressReporter(job, preview="mean", frame_bytes=10, clock=clock)
    partial = {"mean": np.ones((16, 12), np.float32)}
    report(12, 48, partial)
    report(45, 48, partial)
    assert [(m["type"], m["done"]) for m in sent] == [
        ("progress", 12),
        ("partial", 12),
        ("progress", 45),
    ]
    assert Job.objects.get(pk=job.pk).frames_done == 12


def test_the_thread_runner_handles_its_database_connection_as_a_request_does(
    users, dataset, inline_executor, settings
):
    """Kept from one job to the next while CONN_MAX_AGE allows (the embedded SQLite), closed
    after each job where it is 0 (PostgreSQL, whose connections a pool holds)."""
    import threading

    from django.db import connection

    from apps.jobs import queue

    jobs: list[Job] = []
    seen: list[Any] = []

    def two_jobs() -> None:
        # one after the other: a queued second job would be started by the first one's end
        for _ in "ab":
            jobs.append(Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum"))
            queue._run_in_thread(jobs[-1].pk)
            seen.append(connection.connection)

    thread = threading.Thread(target=two_jobs)
    thread.start()
    thread.join(60)
    assert [Job.objects.get(pk=j.pk).status for j in jobs] == ["finished", "finished"]
    if settings.DATABASES["default"]["CONN_MAX_AGE"]:
        assert seen[0] is not None and seen[1] is seen[0]
    else:
        assert seen == [None, None]


def test_the_json_of_a_job_lists_results_only_once_it_finished(users, dataset, inline_executor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.jobs.serializers import job_json

    job = driver.job_claim(
        Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum").pk
    )
    with CaptureQueriesContext(connection) as queries:
        assert job_json(job)["results"] == []
    assert not any("results_result" in q["sql"] for q in queries.captured_queries)
    Job.objects.filter(pk=job.pk).update(status="queued")
    driver.run_job(job.pk)
    job.refresh_from_db()
    assert sorted(r["name"] for r in job_json(job)["results"]) == ["max", "mean", "sum"]
    # The code that made them: the portal's engine (a plugin's: tests/plugins).
    provenance = job_json(job)["provenance"]
    assert (provenance["source"], provenance["version"]) == ("builtin", ENGINE_VERSION)
    assert (provenance["analysis"], provenance["executor"]) == ("sum", "inline")


def test_a_first_finish_deletes_no_results_and_a_second_attempt_replaces_them(
    users, dataset, inline_executor
):
    """A first attempt that stored no preview has no results to delete; a run again (the
    reaper's, after a lost worker) replaces those of the one before, with no duplicates."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum")
    with CaptureQueriesContext(connection) as queries:
        driver.run_job(job.pk)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert deletes == []
    first = sorted(Result.objects.filter(job=job).values_list("name", "pk"))
    assert [name for name, _ in first] == ["max", "mean", "sum"]

    Job.objects.filter(pk=job.pk).update(status="queued")  # as the reaper queues it again
    with CaptureQueriesContext(connection) as queries:
        driver.run_job(job.pk)
    assert Job.objects.get(pk=job.pk).attempt == 2
    assert any(
        q["sql"].startswith("DELETE") and "results_result" in q["sql"]
        for q in queries.captured_queries
    )
    second = sorted(Result.objects.filter(job=job).values_list("name", "pk"))
    assert [name for name, _ in second] == ["max", "mean", "sum"]
    assert {pk for _, pk in second}.isdisjoint(pk for _, pk in first)


def test_a_reporter_that_stored_a_preview_says_so(users, dataset, monkeypatch):
    from apps.jobs import progress

    monkeypatch.setattr(progress, "publish", lambda message, binary=None: None)
    job = driver.job_claim(
        Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum").pk
    )
    clock = iter([0.0, 1.0, 2.0]).__next__
    report = progress.ProgressReporter(job, preview="mean", frame_bytes=10, clock=clock)
    report(12, 48)
    assert not report.stored  # progress without a preview
    report(24, 48, {"mean": np.ones((16, 12), np.float32)})
    assert report.stored
    assert Result.objects.filter(job=job, partial=True).count() == 1
