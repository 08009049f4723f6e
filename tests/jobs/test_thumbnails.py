"""Thumbnails: a thumbnail job at registration, on request and by the command; the images on
the catalogue's pages behind the dataset's access check."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from apps.datasets.models import Thumbnail
from apps.datasets.services import dataset_register
from apps.jobs.models import Job
from apps.results.thumbnail import thumbnail_png
from tests.jobs.support import submit_ingest, wait_terminal

pytestmark = [
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
    pytest.mark.django_db(transaction=True),
]


def register(users, data_root, data, name="scan"):
    path = data_root / f"{name}.npy"
    np.save(path, data)
    return dataset_register(owner=users.owner, name=name, path=str(path), groups=["lab"])


def the_thumbnail_job(dataset):
    job = Job.objects.get(dataset=dataset, kind=Job.Kind.THUMBNAIL)
    return wait_terminal(job.pk)


def test_registration_computes_both_thumbnails(users, data_root, data, settings, client_for):
    settings.THUMBNAILS_ON_REGISTER = True
    dataset = register(users, data_root, data)
    job = the_thumbnail_job(dataset)
    assert (job.status, job.owner_id, job.frames_done) == ("finished", users.owner.pk, 2 * 48)
    rows = {t.kind: t for t in Thumbnail.objects.filter(dataset=dataset)}
    mean = data.astype(np.float64).mean(axis=(0, 1))
    # The stored PNG is the mean frame rendered as every result thumbnail is.
    assert bytes(rows["mean"].png) == thumbnail_png(mean)
    ring = rows["adf"].detail
    y, x = np.indices(data.shape[-2:])
    d2 = (y - ring["cy"]) ** 2 + (x - ring["cx"]) ** 2
    inside = (d2 > ring["ri"] ** 2) & (d2 <= ring["ro"] ** 2)
    adf = data[..., inside].astype(np.float64).sum(axis=-1)
    assert bytes(rows["adf"].png) == thumbnail_png(adf.astype(np.float32))
    image = Image.open(io.BytesIO(bytes(rows["adf"].png)))
    assert image.size == (8, 6)  # the scan, x by y

    urls = client_for(users.member).get(f"/api/datasets/{dataset.pk}/").json()["thumbnails"]
    for kind, url in urls.items():
        response = client_for(users.member).get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert response.content == bytes(rows[kind].png)
        assert client_for(users.outsider).get(url).status_code == 404
    listing = client_for(users.owner).get("/datasets/").content.decode()
    assert urls["mean"].replace("&", "&amp;") in listing and "Mean frame of scan" in listing


def test_no_job_when_registration_thumbnails_are_off(users, data_root, data, settings):
    settings.THUMBNAILS_ON_REGISTER = False
    dataset = register(users, data_root, data)
    assert not Job.objects.filter(dataset=dataset).exists()


def test_the_command_computes_those_lacking(users, data_root, data, settings):
    settings.THUMBNAILS_ON_REGISTER = False
    old = register(users, data_root, data, "old")
    older = register(users, data_root, data[::-1], "older")
    out = io.StringIO()
    call_command("thumbnails", stdout=out)
    assert f"{old.pk} old: finished" in out.getvalue()
    assert f"{older.pk} older: finished" in out.getvalue()
    assert Thumbnail.objects.filter(dataset__in=[old, older]).count() == 4
    again = io.StringIO()
    call_command("thumbnails", stdout=again)
    assert again.getvalue().strip() == "Every dataset has its thumbnails."
    assert Job.objects.filter(kind=Job.Kind.THUMBNAIL).count() == 2


def test_owner_and_staff_ask_for_them_again(users, data_root, data, settings, client_for):
    settings.THUMBNAILS_ON_REGISTER = False
    dataset = register(users, data_root, data)
    url = f"/api/datasets/{dataset.pk}/thumbnails/"
    assert client_for(users.member).post(url).status_code == 403
    assert client_for(users.outsider).post(url).status_code == 404
    response = client_for(users.owner).post(url)
    assert response.status_code == 202
    job = wait_terminal(response.json()["id"])
    assert job.kind == "thumbnail" and job.status == "finished"
    assert client_for(users.owner).get(f"/jobs/{job.pk}/").status_code == 200
    page = client_for(users.staff).post(f"/datasets/{dataset.pk}/thumbnails/")
    assert page.status_code == 302
    assert wait_terminal(Job.objects.latest("pk").pk).status == "finished"
    assert Thumbnail.objects.filter(dataset=dataset).count() == 2  # replaced, not added


def test_an_ingested_dataset_without_thumbnails_gets_them(
    users, data_root, data, nodes, settings, client_for
):
    settings.THUMBNAILS_ON_REGISTER = True
    dataset = register(users, data_root, data)
    the_thumbnail_job(dataset)
    Thumbnail.objects.filter(dataset=dataset).delete()  # registered before thumbnails, say
    response = submit_ingest(client_for(users.owner), dataset, partitions=2)
    assert wait_terminal(response.json()["id"]).status == "finished"
    jobs = Job.objects.filter(dataset=dataset, kind=Job.Kind.THUMBNAIL).order_by("pk")
    assert len(jobs) == 2
    assert wait_terminal(jobs[1].pk).status == "finished"
    assert Thumbnail.objects.filter(dataset=dataset).count() == 2
