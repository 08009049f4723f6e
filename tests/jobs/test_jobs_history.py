"""A user's earlier results: jobs that replace the previous edit's job (superseded jobs), the
list's filters, the parameters summary and the thumbnail endpoint, with who may see what."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from apps.jobs.models import Job
from apps.results.colormap import colorize
from apps.results.store import results_save
from apps.results.thumbnail import shrink
from tests.jobs.support import NAV, SIG, raw_dataset, submit

RING = {"shape": "ring", "cx": 6, "cy": 8, "ri": 2, "ro": 5}


def finished(owner, dataset, analysis="virtual", params=None, *, shared=False, **results):
    job = Job.objects.create(
        owner=owner,
        dataset=dataset,
        analysis=analysis,
        params=params if params is not None else RING,
        status="finished",
        shared=shared,
    )
    results_save(job=job, results=results or {"intensity": np.ones(NAV)})
    return job


@pytest.fixture
def second_dataset(users, data_root, data):
    """Another dataset of alice's, shared with the lab too."""
    second = raw_dataset(users.owner, data_root, data, "second")
    second.groups.add(users.lab)
    return second


# --- a job that replaces another ------------------------------------------------------------


def test_it_cancels_the_replaced_job_and_folds_a_drag_under_its_last_job(
    users, client_for, dataset, held_jobs
):
    client = client_for(users.owner)
    ids = []
    for ro in (4, 5, 6):
        body = {"replaces": ids[-1]} if ids else {}
        response = submit(client, dataset, "virtual", {**RING, "ro": ro}, **body)
        assert response.status_code == 202, response.json()
        ids.append(response.json()["id"])
    first, second, last = (Job.objects.get(pk=pk) for pk in ids)
    assert (first.status, second.status, last.status) == ("cancelled", "cancelled", "queued")
    # the whole drag points at the job that ended it, not at the step after each
    assert first.superseded_by_id == last.pk and second.superseded_by_id == last.pk
    assert last.superseded_by_id is None
    listed = client.get(f"/api/jobs/?dataset={dataset.pk}&superseded=false").json()["jobs"]
    assert [j["id"] for j in listed] == [last.pk]
    folded = client.get(f"/api/jobs/?dataset={dataset.pk}&superseded=true").json()["jobs"]
    assert sorted(j["id"] for j in folded) == sorted(ids[:2])
    assert all(j["superseded_by"] == last.pk for j in folded)


def test_a_running_replaced_job_is_asked_to_stop(users, client_for, dataset, held_jobs):
    running = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="virtual", params=RING, status="running"
    )
    response = submit(client_for(users.owner), dataset, "virtual", RING, replaces=running.pk)
    assert response.status_code == 202
    running.refresh_from_db()
    assert running.cancel_requested and running.superseded_by_id == response.json()["id"]


def test_a_job_that_ended_before_its_replacement_stays_a_result(
    users, client_for, dataset, held_jobs
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    done = finished(users.owner, dataset)
    client = client_for(users.owner)
    with CaptureQueriesContext(connection) as queries:
        response = submit(client, dataset, "virtual", RING, replaces=done.pk)
    assert response.status_code == 202
    done.refresh_from_db()
    assert done.status == "finished" and done.superseded_by_id is None
    # read as ended by the request, it is not asked to stop: an ended job never runs again
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]


@pytest.mark.parametrize(
    ("who", "shared", "status"),
    [("member", True, 403), ("member", False, 404), ("outsider", True, 404)],
)
def test_only_ones_own_job_can_be_replaced(
    users, client_for, dataset, held_jobs, who, shared, status
):
    theirs = Job.objects.create(
        owner=users.owner, dataset=dataset, analysis="virtual", params=RING, shared=shared
    )
    before = Job.objects.count()
    response = submit(client_for(getattr(users, who)), dataset, "virtual", RING, replaces=theirs.pk)
    assert response.status_code == (404 if who == "outsider" else status)
    assert Job.objects.count() == before
    theirs.refresh_from_db()
    assert theirs.status == "queued" and theirs.superseded_by_id is None


def test_a_job_replaces_only_one_on_its_own_dataset(
    users, client_for, dataset, second_dataset, held_jobs
):
    elsewhere = Job.objects.create(
        owner=users.owner, dataset=second_dataset, analysis="virtual", params=RING
    )
    response = submit(client_for(users.owner), dataset, "virtual", RING, replaces=elsewhere.pk)
    assert response.status_code == 400
    assert "replaces" in response.json()["fields"]
    assert Job.objects.filter(dataset=dataset).count() == 0
    elsewhere.refresh_from_db()
    assert elsewhere.status == "queued"


def test_a_malformed_replaces_is_refused(users, client_for, dataset, held_jobs):
    response = submit(client_for(users.owner), dataset, "virtual", RING, replaces="seven")
    assert response.status_code == 400
    assert "replaces" in response.json()["fields"]
    assert Job.objects.count() == 0


# --- the list's filters ---------------------------------------------------------------------


@pytest.fixture
def mixed(users, dataset, second_dataset):
    """Jobs of two owners, analyses and states on two datasets (all shared with the lab)."""
    return {
        "ring": finished(users.owner, dataset, shared=True),
        "com": finished(
            users.owner, dataset, "com", {"cx": 6, "cy": 8, "r": 4}, shared=True, x=np.zeros(NAV)
        ),
        "bobs": finished(users.member, dataset, shared=True),
        "failed": Job.objects.create(
            owner=users.owner, dataset=dataset, analysis="sum", status="failed", shared=True
        ),
        "elsewhere": finished(users.owner, second_dataset, shared=True),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("analysis=virtual", {"ring", "bobs", "elsewhere"}),
        ("analysis=com", {"com"}),
        ("status=failed", {"failed"}),
        ("owner=bob", {"bobs"}),
        ("dataset={dataset}&owner=alice&status=finished", {"ring", "com"}),
        ("superseded=false&analysis=sum", {"failed"}),
    ],
)
def test_it_filters_the_job_list(users, client_for, dataset, mixed, query, expected):
    url = "/api/jobs/?" + query.format(dataset=dataset.pk)
    response = client_for(users.owner).get(url)
    assert response.status_code == 200
    names = {
        name for name, job in mixed.items() if job.pk in {j["id"] for j in response.json()["jobs"]}
    }
    assert names == expected


def test_the_filters_never_show_a_job_one_may_not_see(users, client_for, dataset, mixed):
    Job.objects.filter(pk=mixed["bobs"].pk).update(shared=False)
    listed = client_for(users.owner).get("/api/jobs/?owner=bob").json()["jobs"]
    assert listed == []
    assert client_for(users.outsider).get("/api/jobs/?owner=alice").json()["jobs"] == []


def test_the_limit_keeps_the_newest(users, client_for, dataset, mixed):
    listed = client_for(users.owner).get("/api/jobs/?limit=2").json()["jobs"]
    newest = Job.objects.order_by("-created", "-id").values_list("pk", flat=True)[:2]
    assert [j["id"] for j in listed] == list(newest)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("superseded=yes", "superseded"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(users, client_for, query, field):
    response = client_for(users.owner).get(f"/api/jobs/?{query}")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_a_job_says_its_parameters_in_one_line(users, client_for, dataset):
    job = finished(users.owner, dataset, params={**RING, "cx": 6.25})
    Job.objects.filter(pk=job.pk).update(
        roi={"shape": "rect", "y": 1, "x": 2, "height": 3, "width": 4}
    )
    data = client_for(users.owner).get(f"/api/jobs/{job.pk}/").json()
    assert data["summary"] == "ring · cx 6.25, cy 8, ri 2, ro 5 · ROI 3×4 at (1, 2)"
    assert data["thumbnail"] == f"/api/jobs/{job.pk}/thumbnail.png"
    assert data["superseded_by"] is None


# --- thumbnails -----------------------------------------------------------------------------


def test_shrink_averages_blocks_of_finite_values():
    image = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    image[0, 0] = np.nan
    out = shrink(image, 3)  # factor 3: blocks of 3 × 3, the last ones cut short
    assert out.shape == (2, 3)
    expected = np.array(
        [[np.nanmean(image[r : r + 3, c : c + 3]) for c in range(0, 7, 3)] for r in range(0, 5, 3)]
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert shrink(image, 7) is image  # small enough already


def _png(response):
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


@pytest.mark.parametrize(
    ("who", "shared", "status"),
    [
        ("owner", False, 200),
        ("staff", False, 200),
        ("member", True, 200),
        ("member", False, 404),
        ("outsider", True, 404),
    ],
)
def test_the_thumbnail_is_shown_to_those_who_may_see_the_job(
    users, client_for, dataset, who, shared, status
):
    intensity = np.random.default_rng(3).random(NAV)
    job = finished(users.owner, dataset, shared=shared, intensity=intensity)
    response = client_for(getattr(users, who)).get(f"/api/jobs/{job.pk}/thumbnail.png")
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "image/png"
        assert response["Cache-Control"].startswith("private")
        np.testing.assert_array_equal(_png(response), colorize(intensity.astype(np.float32)))


def test_a_large_result_gets_a_small_thumbnail_of_its_preview(users, client_for, dataset):
    # a radial profile: nav × bins, previewed as the sum over the bins, then shrunk
    profile = np.random.default_rng(4).random((300, 200, 3))
    job = finished(
        users.owner,
        dataset,
        "radial",
        {"cx": 6, "cy": 8, "ri": 0, "ro": 6, "bins": 3},
        profile=profile,
    )
    response = client_for(users.owner).get(f"/api/jobs/{job.pk}/thumbnail.png")
    assert response.status_code == 200
    image = _png(response)
    assert image.shape == (100, 67, 4)  # factor 3: at most 128 px a side
    expected = colorize(shrink(profile.sum(axis=-1).astype(np.float32), 128))
    np.testing.assert_array_equal(image, expected)


def test_the_thumbnail_answers_304_to_its_etag(users, client_for, dataset):
    job = finished(users.owner, dataset)
    client = client_for(users.owner)
    first = client.get(f"/api/jobs/{job.pk}/thumbnail.png")
    again = client.get(f"/api/jobs/{job.pk}/thumbnail.png", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    # the access check comes first: an outsider with the ETag learns nothing
    outsider = client_for(users.outsider)
    response = outsider.get(f"/api/jobs/{job.pk}/thumbnail.png", HTTP_IF_NONE_MATCH=first["ETag"])
    assert response.status_code == 404


@pytest.mark.parametrize("status", ["queued", "running", "failed", "cancelled"])
def test_only_a_finished_analysis_has_a_thumbnail(users, client_for, dataset, status):
    job = Job.objects.create(owner=users.owner, dataset=dataset, analysis="virtual", status=status)
    client = client_for(users.owner)
    assert client.get(f"/api/jobs/{job.pk}/thumbnail.png").status_code == 404
    assert client.get(f"/api/jobs/{job.pk}/").json()["thumbnail"] is None


def test_an_ingestion_has_no_thumbnail(users, client_for, dataset):
    job = Job.objects.create(
        owner=users.owner, dataset=dataset, kind="ingest", analysis="", status="finished"
    )
    client = client_for(users.owner)
    assert client.get(f"/api/jobs/{job.pk}/thumbnail.png").status_code == 404
    assert client.get(f"/api/jobs/{job.pk}/").json()["thumbnail"] is None


def test_the_thumbnail_is_of_the_analysis_preview_result(users, client_for, dataset):
    # sum's preview is its mean frame (a detector-shaped image), not the first result
    mean = np.random.default_rng(5).random(SIG)
    job = finished(users.owner, dataset, "sum", {}, sum=-mean, mean=mean, max=mean**2)
    response = client_for(users.owner).get(f"/api/jobs/{job.pk}/thumbnail.png")
    assert response.status_code == 200
    np.testing.assert_array_equal(_png(response), colorize(mean.astype(np.float32)))
