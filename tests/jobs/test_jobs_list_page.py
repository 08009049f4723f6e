"""The job list page: filters, thumbnails, parameters, pages, and drags folded away."""

from __future__ import annotations

import re

import numpy as np
import pytest

from apps.jobs.models import Job
from apps.jobs.views.pages import JOBS_PER_PAGE
from apps.results.store import results_save
from tests.jobs.support import NAV

RING = {"shape": "ring", "cx": 6, "cy": 8, "ri": 2, "ro": 5}


def job(owner, dataset, analysis="virtual", status="finished", **fields):
    created = Job.objects.create(
        owner=owner,
        dataset=dataset,
        analysis=analysis,
        status=status,
        params=fields.pop("params", RING),
        **fields,
    )
    if status == "finished":
        results_save(job=created, results={"intensity": np.ones(NAV)})
    return created


def listed(html):
    """The ids of the jobs with a row of their own (not those folded under another)."""
    rows = re.findall(r'<tr>\s*<td><a href="/jobs/(\d+)/">', html)
    return [int(pk) for pk in rows]


@pytest.fixture
def drag(users, dataset):
    """A drag: three steps superseded by the job that ended it, and an older finished job."""
    before = job(users.owner, dataset, shared=True)
    last = job(users.owner, dataset, shared=True, params={**RING, "ro": 7})
    steps = [
        job(users.owner, dataset, status="cancelled", superseded_by=last, params={**RING, "ro": r})
        for r in (4, 5, 6)
    ]
    return {"before": before, "last": last, "steps": steps}


def test_it_folds_a_drag_under_the_job_that_ended_it(users, client_for, drag):
    html = client_for(users.owner).get("/jobs/").content.decode()
    assert listed(html) == [drag["last"].pk, drag["before"].pk]
    assert "+3 superseded" in html
    for step in drag["steps"]:
        assert f'href="/jobs/{step.pk}/"' in html  # inside the folded list, with its parameters
        assert f"ring · cx 6, cy 8, ri 2, ro {step.params['ro']}" in html
    # listed one row each on request, each saying what replaced it
    flat = client_for(users.owner).get("/jobs/?superseded=on").content.decode()
    assert sorted(listed(flat)) == sorted(
        [drag["last"].pk, drag["before"].pk] + [s.pk for s in drag["steps"]]
    )
    assert flat.count(f'(superseded by <a href="/jobs/{drag["last"].pk}/">') == 3


def test_the_home_page_folds_drags_too(users, client_for, drag):
    html = client_for(users.owner).get("/").content.decode()
    assert listed(html) == [drag["last"].pk, drag["before"].pk]
    assert "+3 superseded" in html


def test_a_member_sees_a_shared_job_without_its_unshared_steps(users, client_for, drag):
    html = client_for(users.member).get("/jobs/").content.decode()
    assert listed(html) == [drag["last"].pk, drag["before"].pk]
    assert "superseded" not in html.split("<table", 1)[1]


def test_each_row_shows_thumbnail_parameters_and_owner(users, client_for, dataset, drag):
    html = client_for(users.member).get("/jobs/").content.decode()
    assert f'src="/api/jobs/{drag["last"].pk}/thumbnail.png"' in html
    assert "ring · cx 6, cy 8, ri 2, ro 7" in html
    assert '<td class="owner">alice' in html


def test_it_filters_by_dataset_analysis_and_status(users, client_for, dataset, drag):
    client = client_for(users.owner)
    failed = job(users.owner, dataset, "com", status="failed", params={"cx": 1, "cy": 1, "r": 1})
    assert listed(client.get("/jobs/?analysis=com").content.decode()) == [failed.pk]
    assert listed(client.get("/jobs/?status=failed").content.decode()) == [failed.pk]
    html = client.get(f"/jobs/?dataset={dataset.pk}&analysis=virtual").content.decode()
    assert listed(html) == [drag["last"].pk, drag["before"].pk]
    empty = client.get("/jobs/?analysis=sum").content.decode()
    assert listed(empty) == [] and "No jobs match these filters." in empty


def test_only_staff_filter_by_owner(users, client_for, dataset, drag):
    bobs = job(users.member, dataset)
    staff = client_for(users.staff).get("/jobs/?owner=bob").content.decode()
    assert listed(staff) == [bobs.pk]
    assert 'name="owner"' in staff
    member = client_for(users.member).get("/jobs/?owner=bob").content.decode()
    assert 'name="owner"' not in member  # the field is not there; the parameter is ignored
    assert bobs.pk in listed(member) and drag["last"].pk in listed(member)


def test_a_filter_never_reveals_a_dataset_one_may_not_see(users, client_for, dataset, drag):
    html = client_for(users.outsider).get(f"/jobs/?dataset={dataset.pk}").content.decode()
    assert listed(html) == []
    assert "scan" not in re.sub(r"<form.*?</form>", "", html, flags=re.S)  # the dataset's name
    assert f'<option value="{dataset.pk}"' not in html
    assert "Select a valid choice" in html


def test_it_pages_the_list(users, client_for, dataset):
    ids = [job(users.owner, dataset, status="queued").pk for _ in range(JOBS_PER_PAGE + 3)]
    client = client_for(users.owner)
    first = client.get("/jobs/?status=queued").content.decode()
    assert listed(first) == ids[::-1][:JOBS_PER_PAGE]
    assert f"page 1 of 2 ({JOBS_PER_PAGE + 3} jobs)" in first
    assert 'href="?status=queued&amp;page=2" rel="next"' in first
    second = client.get("/jobs/?status=queued&page=2").content.decode()
    assert listed(second) == ids[::-1][JOBS_PER_PAGE:]
    assert listed(client.get("/jobs/?status=queued&page=99").content.decode()) == listed(second)


def test_a_superseded_jobs_page_names_the_job_that_replaced_it(users, client_for, drag):
    step = drag["steps"][0]
    html = client_for(users.owner).get(f"/jobs/{step.pk}/").content.decode()
    assert f'Replaced by job <a href="/jobs/{drag["last"].pk}/">#{drag["last"].pk}</a>' in html
    assert (
        "Replaced by"
        not in client_for(users.owner).get(f"/jobs/{drag['last'].pk}/").content.decode()
    )
