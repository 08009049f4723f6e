"""Server-rendered job pages: who sees what; outsiders get 404, anonymous users the login."""

from __future__ import annotations

import numpy as np
import pytest

from apps.jobs.models import Job
from apps.results.store import results_save


@pytest.fixture
def job(users, dataset):
    """alice's finished job, shared with those who see the dataset (the member among them)."""
    job = Job.objects.create(
        owner=users.owner,
        dataset=dataset,
        analysis="sum",
        status="finished",
        shared=True,
        partitions=[
            {
                "index": 0,
                "start": 0,
                "stop": 48,
                "worker": "node-a",
                "seconds": 0.5,
                "nbytes": 10**9,
            }
        ],
    )
    results_save(job=job, results={"mean": np.ones((16, 12))})
    return job


@pytest.fixture
def running(users, dataset):
    return Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="pick", status="running", shared=True
    )


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("member", 200), ("staff", 200), ("outsider", 404)]
)
def test_it_shows_the_job_page_to_those_who_may_see_it(users, client_for, job, who, status):
    response = client_for(getattr(users, who)).get(f"/jobs/{job.pk}/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert f"/api/jobs/{job.pk}/results/mean.png" in html
        assert f"/api/jobs/{job.pk}/results/mean.npy" in html
        assert "node-a" in html and "2.00" in html  # the partition table, GB/s
        assert f'data-ws="/ws/jobs/{job.pk}/"' in html
        assert "js/job.js" in html


def test_the_job_page_says_which_code_computed_the_results(users, client_for, job):
    html = client_for(users.owner).get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="job-provenance"' not in html  # not recorded (a job before provenance)
    sha = "f35ba742e46ed9dee32e498866a7e4ec2b7d6f33914ad921f99bbd2442fc2c82"
    job.provenance = {"source": "plugin", "distribution": "portal-plugin-x", "version": "2.1"}
    job.provenance |= {"sha256": sha, "entry_point": "x = portal_plugin_x:X"}
    job.save()
    html = client_for(users.owner).get(f"/jobs/{job.pk}/").content.decode()
    assert "the plugin portal-plugin-x 2.1" in html and f'title="{sha}"' in html
    job.provenance = {"source": "builtin", "version": "0.1.0"}
    job.save()
    html = client_for(users.owner).get(f"/jobs/{job.pk}/").content.decode()
    assert "Computed by the portal 0.1.0" in html


@pytest.mark.parametrize("url", ["/", "/jobs/", "/jobs/{id}/"])
def test_it_sends_anonymous_users_to_the_login(client_for, job, url):
    response = client_for(None).get(url.format(id=job.pk))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize(
    ("who", "seen"), [("owner", True), ("member", True), ("staff", True), ("outsider", False)]
)
def test_it_lists_visible_jobs_in_the_history_and_home(users, client_for, job, who, seen):
    client = client_for(getattr(users, who))
    for url in ("/jobs/", "/"):
        response = client.get(url)
        assert response.status_code == 200
        assert (f'href="/jobs/{job.pk}/"' in response.content.decode()) is seen


def test_it_offers_cancel_to_the_owner_of_a_running_job_only(users, client_for, running):
    form = f'action="/jobs/{running.pk}/cancel/"'
    assert form in client_for(users.owner).get("/jobs/").content.decode()
    assert form not in client_for(users.member).get("/jobs/").content.decode()


@pytest.mark.parametrize(
    ("who", "status", "cancelled"),
    [("owner", 302, True), ("member", 302, False), ("outsider", 404, False)],
)
def test_it_cancels_from_the_page(users, client_for, running, who, status, cancelled):
    response = client_for(getattr(users, who)).post(f"/jobs/{running.pk}/cancel/", {"next": "list"})
    assert response.status_code == status
    running.refresh_from_db()
    assert running.cancel_requested is cancelled


def test_it_says_so_on_the_page_when_an_ended_job_is_cancelled(users, client_for, job):
    response = client_for(users.owner).post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/jobs/{job.pk}/", 302)]
    page = response.content.decode()
    assert f"Job {job.pk} has already finished; there is nothing to cancel." in page
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("finished", False)
