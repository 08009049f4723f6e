"""Fairness and limits: running jobs per user, the queue place, rerun, dataset and mask sizes."""

from __future__ import annotations

import io
import itertools
import threading

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection, transaction

from apps.core.errors import ParameterError
from apps.datasets.services import dataset_register
from apps.jobs import driver, queue
from apps.jobs.limits import check_queue_room
from apps.jobs.models import Job
from apps.jobs.services import mask_upload
from tests.jobs.support import submit, wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]


@pytest.fixture
def limit(settings):
    settings.MAX_RUNNING_JOBS_PER_USER = 2
    return 2


def test_it_keeps_jobs_over_the_limit_queued_with_their_place(
    users, client_for, dataset, held_jobs, limit
):
    client = client_for(users.owner)
    ids = [submit(client, dataset, "sum").json()["id"] for _ in range(4)]
    for job_id in ids:
        driver.job_claim(job_id)  # what a worker does first; two fit under the limit
    statuses = list(Job.objects.filter(pk__in=ids).order_by("id").values_list("status", flat=True))
    assert statuses == ["running", "running", "queued", "queued"]
    third = client.get(f"/api/jobs/{ids[2]}/").json()
    assert third["queue"] == {"place": 1, "running": 2, "limit": 2}
    assert client.get(f"/api/jobs/{ids[3]}/").json()["queue"]["place"] == 2
    assert client.get(f"/api/jobs/{ids[0]}/").json()["queue"] is None
    page = client.get(f"/jobs/{ids[3]}/").content.decode()
    assert '<strong id="job-queue-place">2nd</strong> in your queue' in page


def test_the_limit_is_per_user(users, client_for, dataset, held_jobs, limit):
    alice = [submit(client_for(users.owner), dataset, "sum").json()["id"] for _ in range(3)]
    bob = submit(client_for(users.member), dataset, "sum").json()["id"]
    for job_id in [*alice, bob]:
        driver.job_claim(job_id)
    assert Job.objects.get(pk=alice[2]).status == "queued"
    assert Job.objects.get(pk=bob).status == "running"


def test_it_starts_the_next_queued_job_when_one_ends(
    users, client_for, dataset, inline_executor, settings
):
    settings.MAX_RUNNING_JOBS_PER_USER = 1
    client = client_for(users.owner)
    # reuse: false, or the later ones would copy the first's results at once
    ids = [submit(client, dataset, "sum", reuse=False).json()["id"] for _ in range(5)]
    jobs = [wait_terminal(job_id) for job_id in ids]
    assert [j.status for j in jobs] == ["finished"] * 5
    # never two at once: each started after the previous one finished
    jobs.sort(key=lambda j: j.started)
    for before, after in itertools.pairwise(jobs):
        assert after.started >= before.finished


def test_dispatch_hands_out_only_what_fits_and_asks_once_when_nothing_waits(
    users, client_for, dataset, held_jobs, limit, django_assert_num_queries
):
    with django_assert_num_queries(1):  # a job's end with nothing queued: one question
        assert queue.jobs_dispatch(users.owner.pk) == []
    client = client_for(users.owner)
    ids = [submit(client, dataset, "sum").json()["id"] for _ in range(3)]
    assert queue.jobs_dispatch(users.owner.pk) == ids[:2]
    driver.job_claim(ids[0])
    assert queue.jobs_dispatch(users.owner.pk) == [ids[1]]  # one slot is taken
    driver.job_claim(ids[1])
    assert queue.jobs_dispatch(users.owner.pk) == []  # both are


def test_it_reruns_a_job_with_the_same_parameters(users, client_for, dataset, inline_executor):
    client = client_for(users.owner)
    params = {"shape": "disk", "cx": 6, "cy": 8, "r": 3}
    first = wait_terminal(submit(client, dataset, "virtual", params, roi=None).json()["id"])
    response = client.post(f"/api/jobs/{first.pk}/rerun/")
    assert response.status_code == 202
    second = wait_terminal(response.json()["id"])
    assert second.pk != first.pk
    assert (second.analysis, second.params, second.status) == ("virtual", params, "finished")
    assert response.json()["url"] == f"/api/jobs/{second.pk}/"


def test_rerun_is_for_the_owner_and_staff(users, client_for, dataset, held_jobs):
    job_id = submit(client_for(users.owner), dataset, "sum").json()["id"]
    assert client_for(users.member).post(f"/api/jobs/{job_id}/rerun/").status_code == 404
    Job.objects.filter(pk=job_id).update(shared=True)  # seen, but still not theirs to run
    assert client_for(users.member).post(f"/api/jobs/{job_id}/rerun/").status_code == 403
    assert client_for(users.outsider).post(f"/api/jobs/{job_id}/rerun/").status_code == 404
    assert client_for(None).post(f"/api/jobs/{job_id}/rerun/").status_code == 401
    assert client_for(users.staff).post(f"/api/jobs/{job_id}/rerun/").status_code == 202


def test_the_job_page_reruns_with_one_click(users, client_for, dataset, inline_executor):
    client = client_for(users.owner)
    job = wait_terminal(submit(client, dataset, "sum").json()["id"])
    assert f'action="/jobs/{job.pk}/rerun/"' in client.get(f"/jobs/{job.pk}/").content.decode()
    response = client.post(f"/jobs/{job.pk}/rerun/")
    new = Job.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{new.pk}/"
    assert wait_terminal(new.pk).status == "finished"  # before the inline executor goes away


def test_it_refuses_a_dataset_over_the_size_limit(users, data_root, settings):
    settings.MAX_DATASET_BYTES = 1000
    path = data_root / "big.npy"
    np.save(path, np.zeros((4, 4, 8, 8), dtype=np.uint16))  # 2048 bytes
    with pytest.raises(ValidationError) as info:
        dataset_register(owner=users.owner, name="big", path=str(path))
    message = info.value.message_dict["path"][0]
    assert "2048 bytes" in message
    assert "limit of 1000 bytes (MAX_DATASET_BYTES)" in message


def test_it_refuses_a_mask_upload_over_the_size_limit(users, dataset, settings, client_for):
    settings.MAX_MASK_UPLOAD_BYTES = 100
    buffer = io.BytesIO()
    np.save(buffer, np.ones((16, 12), dtype=np.float32))
    upload = SimpleUploadedFile("m.npy", buffer.getvalue())
    with pytest.raises(ParameterError, match="larger than the limit of 100 bytes"):
        mask_upload(user=users.owner, dataset=dataset, file=upload)
    response = client_for(users.owner).post(
        "/api/masks/",
        {"file": SimpleUploadedFile("m.npy", buffer.getvalue()), "dataset": dataset.pk},
    )
    assert response.status_code == 400
    assert "larger than the limit of 100 bytes" in response.json()["error"]


def test_a_submission_holds_its_owner_lock_until_it_commits(users):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite's write transaction serialises submissions)")
    outcome: list[str] = []

    def another_submission() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '200ms'")
                check_queue_room(users.owner.pk)
            outcome.append("not held")
        except OperationalError:
            outcome.append("held")
        finally:
            connection.close()

    with transaction.atomic():
        check_queue_room(users.owner.pk)
        waiting = threading.Thread(target=another_submission)
        waiting.start()
        waiting.join()
    after = threading.Thread(target=another_submission)
    after.start()
    after.join()
    assert outcome == ["held", "not held"]
