"""Notes, tags and annotations on a job's results: the owner (and staff) write them, whoever
may see the job reads them, on its page and in the API."""

from __future__ import annotations

import json

import pytest

from apps.jobs.models import Job, JobTag

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(users, dataset):
    return Job.objects.create(owner=users.owner, dataset=dataset, analysis="sum", shared=True)


def post(client, job, body):
    url = f"/api/jobs/{job.pk}/notes/"
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_owner_annotates_and_a_member_reads(users, job, client_for):
    body = {"notes": "Best fit so far.", "tags": ["strain map"], "annotations": {"operator": "A"}}
    data = post(client_for(users.owner), job, body).json()
    assert (data["notes"], data["tags"], data["annotations"]) == (
        "Best fit so far.",
        ["strain map"],
        {"operator": "A"},
    )
    seen = client_for(users.member).get(f"/api/jobs/{job.pk}/").json()
    assert seen["tags"] == ["strain map"] and seen["annotations"] == {"operator": "A"}
    page = client_for(users.member).get(f"/jobs/{job.pk}/").content.decode()
    assert '<span class="tag">strain map</span>' in page and "notes-form" not in page
    assert "notes-form" in client_for(users.owner).get(f"/jobs/{job.pk}/").content.decode()


def test_a_member_may_not_and_bad_input_names_the_field(users, job, client_for):
    assert post(client_for(users.member), job, {"tags": ["x"]}).status_code == 403
    response = post(client_for(users.owner), job, {"annotations": {"": "x"}})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["annotations"]
    assert not JobTag.objects.exists()


def test_the_page_form_saves_them(users, job, client_for):
    client = client_for(users.staff)
    form = {"tags": "a, b", "annotations": "proposal: P-17", "notes": "checked"}
    assert client.post(f"/jobs/{job.pk}/notes/", form).status_code == 302
    job.refresh_from_db()
    assert job.notes == "checked"
    assert sorted(job.tags.values_list("name", flat=True)) == ["a", "b"]
    assert dict(job.annotations.values_list("key", "value")) == {"proposal": "P-17"}
