"""Derived objects follow their source: a job is seen by its owner, by staff, and by those who
may see its dataset when its owner shares it; never once the dataset is out of sight."""

from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest

from apps.datasets.services import dataset_share
from apps.jobs.models import Job
from apps.results.store import results_save
from tests.jobs.support import SIG

pytestmark = pytest.mark.django_db


def finished(owner, dataset, **extra) -> Job:
    job = Job.objects.create(
        owner=owner, dataset=dataset, analysis="sum", status="finished", **extra
    )
    results_save(job=job, results={"sum": np.arange(np.prod(SIG), dtype=float).reshape(SIG)})
    return job


def share(client, job, shared):
    return client.post(
        f"/api/jobs/{job.pk}/share/", {"shared": shared}, content_type="application/json"
    )


def test_a_member_sees_only_their_own_jobs_until_one_is_shared(users, client_for, dataset):
    alices = finished(users.owner, dataset)
    bobs = finished(users.member, dataset)
    member, owner = client_for(users.member), client_for(users.owner)
    assert [j["id"] for j in member.get("/api/jobs/").json()["jobs"]] == [bobs.pk]
    assert [j["id"] for j in owner.get("/api/jobs/").json()["jobs"]] == [alices.pk]
    assert member.get(f"/api/jobs/{alices.pk}/").status_code == 404
    response = share(owner, alices, True)
    assert response.status_code == 200 and response.json()["shared"] is True
    assert Job.objects.get(pk=alices.pk).shared
    data = member.get(f"/api/jobs/{alices.pk}/").json()
    assert (data["owner"], data["shared"]) == ("alice", True)
    assert member.get(f"/api/jobs/{alices.pk}/results/sum.npy").status_code == 200
    assert share(owner, alices, False).status_code == 200
    assert member.get(f"/api/jobs/{alices.pk}/").status_code == 404


def test_only_the_owner_or_staff_share_a_job(users, client_for, dataset):
    job = finished(users.owner, dataset, shared=True)
    response = share(client_for(users.member), job, False)
    assert response.status_code == 403 and "owner" in response.json()["error"]
    assert share(client_for(users.outsider), job, False).status_code == 404
    assert share(client_for(None), job, False).status_code == 401
    assert Job.objects.get(pk=job.pk).shared
    assert share(client_for(users.staff), job, False).status_code == 200
    assert not Job.objects.get(pk=job.pk).shared


@pytest.mark.parametrize("body", [{}, {"shared": "yes"}, {"shared": 1}, {"shared": None}])
def test_it_refuses_a_share_that_is_not_a_boolean(users, client_for, dataset, body):
    job = finished(users.owner, dataset)
    response = client_for(users.owner).post(
        f"/api/jobs/{job.pk}/share/", body, content_type="application/json"
    )
    assert response.status_code == 400 and "shared" in response.json()["fields"]
    assert not Job.objects.get(pk=job.pk).shared


def test_unsharing_the_dataset_hides_the_members_own_jobs(users, client_for, dataset):
    bobs = finished(users.member, dataset, shared=True)
    member = client_for(users.member)
    assert member.get(f"/api/jobs/{bobs.pk}/results/sum.h5").status_code == 200
    dataset_share(user=users.owner, dataset=dataset, groups=[])
    for url in (
        f"/api/jobs/{bobs.pk}/",
        f"/api/jobs/{bobs.pk}/results/sum.h5",
        f"/api/jobs/{bobs.pk}/results/sum.npy",
        f"/jobs/{bobs.pk}/",
    ):
        assert member.get(url).status_code == 404, url
    count = Job.objects.count()
    assert member.post(f"/api/jobs/{bobs.pk}/rerun/").status_code == 404
    assert member.post(f"/jobs/{bobs.pk}/rerun/").status_code == 404
    assert Job.objects.count() == count
    assert member.get("/api/jobs/").json()["jobs"] == []
    # The owner of the dataset sees it only because bob shared it; staff always.
    assert client_for(users.owner).get(f"/api/jobs/{bobs.pk}/").status_code == 200
    assert client_for(users.staff).get(f"/api/jobs/{bobs.pk}/").status_code == 200


def test_the_job_page_shares_and_unshares(users, client_for, dataset):
    job = finished(users.owner, dataset)
    owner = client_for(users.owner)
    page = owner.get(f"/jobs/{job.pk}/").content.decode()
    assert f'action="/jobs/{job.pk}/share/"' in page and "owner (and staff) only" in page
    response = owner.post(f"/jobs/{job.pk}/share/", {"shared": "1"}, follow=True)
    assert "is now shown to everyone who may see the dataset" in response.content.decode()
    assert Job.objects.get(pk=job.pk).shared
    member_page = client_for(users.member).get(f"/jobs/{job.pk}/").content.decode()
    assert "/share/" not in member_page
    client_for(users.member).post(f"/jobs/{job.pk}/share/", {"shared": "0"})
    assert Job.objects.get(pk=job.pk).shared  # refused for the member
    owner.post(f"/jobs/{job.pk}/share/", {"shared": "0"})
    assert not Job.objects.get(pk=job.pk).shared


def test_lists_show_an_owner_column_only_with_others_jobs(users, client_for, dataset):
    finished(users.owner, dataset)
    finished(users.member, dataset, shared=True)
    owner_page = client_for(users.owner).get("/jobs/").content.decode()
    assert "<th>Owner</th>" in owner_page and '<td class="owner">bob' in owner_page
    member_page = client_for(users.member).get("/jobs/").content.decode()
    assert "<th>Owner</th>" not in member_page


def test_the_analysis_page_opens_on_the_viewers_own_latest_sum(users, client_for, dataset):
    alices = finished(users.owner, dataset)
    bobs = finished(users.member, dataset, shared=True)  # newer, and visible to alice

    def page_sum_job(user):
        page = client_for(user).get(f"/datasets/{dataset.pk}/analyze/").content.decode()
        config = page.split('id="analysis-config" type="application/json">')[1].split("</script>")[
            0
        ]
        return json.loads(config)["sum_job"]

    assert page_sum_job(users.owner) == alices.pk
    assert page_sum_job(users.member) == bobs.pk
    assert page_sum_job(users.staff) is None


@pytest.mark.parametrize(
    ("who", "has_path"), [("owner", False), ("member", False), ("staff", True)]
)
def test_the_h5_names_the_dataset_but_its_path_only_for_staff(
    users, client_for, dataset, who, has_path
):
    job = finished(users.owner, dataset, shared=True)
    body = client_for(getattr(users, who)).get(f"/api/jobs/{job.pk}/results/sum.h5").content
    with h5py.File(io.BytesIO(body), "r") as f:
        described = json.loads(f["sum"].attrs["dataset"])
        np.testing.assert_array_equal(f["sum"][()].shape, SIG)
    assert (described["id"], described["name"], described["owner"]) == (dataset.pk, "scan", "alice")
    assert ("path" in described) is has_path
    assert (dataset.path in body.decode("latin-1")) is has_path


def test_unsharing_the_dataset_stops_the_jobs_of_those_who_lost_it(users, dataset):
    def active(owner, status):
        return Job.objects.create(
            owner=owner, dataset=dataset, analysis="sum", status=status, attempt=1
        )

    bobs_queued, bobs_running = active(users.member, "queued"), active(users.member, "running")
    alices, staffs = active(users.owner, "running"), active(users.staff, "running")
    bobs_done = finished(users.member, dataset)
    dataset_share(user=users.owner, dataset=dataset, groups=[])
    rows = {j.pk: j for j in Job.objects.all()}
    assert rows[bobs_queued.pk].status == "cancelled"
    assert rows[bobs_running.pk].cancel_requested  # stops at its next tile
    assert not rows[alices.pk].cancel_requested and not rows[staffs.pk].cancel_requested
    assert rows[bobs_done.pk].status == "finished"  # kept, but hidden from bob
