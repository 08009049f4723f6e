"""Notes, tags and annotations of datasets (API and page), detected metadata, search filters."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import timedelta

import h5py
import numpy as np
import pytest
from django.utils import timezone

from apps.datasets.models import Dataset, DatasetAnnotation, DatasetTag
from apps.datasets.services import dataset_register

pytestmark = pytest.mark.django_db


def post_notes(client, pk, body):
    return client.post(
        f"/api/datasets/{pk}/notes/", json.dumps(body), content_type="application/json"
    )


def test_it_saves_notes_tags_and_annotations(users, dataset, client_for):
    body = {
        "notes": "Cooled to 90 K.",
        "tags": ["SiGe", "strain", "sige"],
        "annotations": {"sample": "SiGe 20%", "voltage": 300, "microscope": "ARM"},
    }
    data = post_notes(client_for(users.owner), dataset.pk, body).json()
    assert data["notes"] == "Cooled to 90 K."
    assert data["tags"] == ["SiGe", "strain"]  # one SiGe, whatever the case
    assert data["annotations"] == {"microscope": "ARM", "sample": "SiGe 20%", "voltage": "300"}
    assert sorted(DatasetTag.objects.filter(dataset=dataset).values_list("name", flat=True)) == [
        "SiGe",
        "strain",
    ]
    # Another write replaces what it names and keeps the rest.
    data = post_notes(client_for(users.staff), dataset.pk, {"annotations": {"voltage": ""}}).json()
    assert data["annotations"] == {} and data["tags"] == ["SiGe", "strain"]
    # Whoever may see the dataset sees them.
    seen = client_for(users.member).get(f"/api/datasets/{dataset.pk}/").json()
    assert seen["notes"] == "Cooled to 90 K." and seen["tags"] == ["SiGe", "strain"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": "not, a list"}, "tags"),
        ({"tags": ["  ", "ok"], "annotations": {"voltage": None}}, None),
        ({"tags": [1, 2]}, "tags"),
        ({"tags": ["a" * 65]}, "tags"),
        ({"tags": ["bad,comma"]}, "tags"),
        ({"annotations": ["sample", "x"]}, "annotations"),
        ({"annotations": {"9lives": "x"}}, "annotations"),
        ({"annotations": {"sample": {"nested": 1}}}, "annotations"),
        ({"annotations": {"sample": "x" * 1001}}, "annotations"),
        ({"notes": 12}, "notes"),
        ({"notes": "x" * 10_001}, "notes"),
    ],
)
def test_it_refuses_bad_notes_naming_the_field(users, dataset, client_for, body, field):
    response = post_notes(client_for(users.owner), dataset.pk, body)
    if field is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    error = response.json()
    assert list(error["fields"]) == [field] and error["error"].startswith(field)
    assert not DatasetTag.objects.exists() and not DatasetAnnotation.objects.exists()


def test_only_owner_and_staff_change_notes(users, dataset, client_for):
    assert post_notes(client_for(users.member), dataset.pk, {"notes": "x"}).status_code == 403
    assert post_notes(client_for(users.outsider), dataset.pk, {"notes": "x"}).status_code == 404
    assert Dataset.objects.get(pk=dataset.pk).notes == ""


def test_the_dataset_page_edits_notes(users, dataset, client_for):
    client = client_for(users.owner)
    form = {"tags": "SiGe, strain", "annotations": "sample: SiGe\nvoltage: 300 kV\n", "notes": "n"}
    response = client.post(f"/datasets/{dataset.pk}/notes/", form)
    assert response.status_code == 302
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert '<span class="tag">SiGe</span>' in page and "<th>voltage</th><td>300 kV</td>" in page
    bad = client.post(f"/datasets/{dataset.pk}/notes/", {"annotations": "no colon here"})
    assert "line 1" in client.get(bad["Location"]).content.decode()
    # The member sees them and no form.
    member_page = client_for(users.member).get(f"/datasets/{dataset.pk}/").content.decode()
    assert '<span class="tag">strain</span>' in member_page and "notes-form" not in member_page


def test_it_stores_hdf5_attributes_as_metadata(users, data_root, client_for):
    with h5py.File(data_root / "other.h5", "w") as other:
        other.create_dataset("x", data=1.0).attrs["note"] = "another file's"
    path = data_root / "scan.h5"
    with h5py.File(path, "w") as f:
        f.attrs["facility"] = "ER-C"
        entry = f.create_group("entry")
        entry.create_dataset("data", data=np.ones((2, 3, 8, 8), dtype=np.uint16))
        inst = entry.create_group("instrument")
        voltage = inst.create_dataset("voltage", data=300.0)
        voltage.attrs["units"] = "kV"
        inst.create_dataset("big", data=np.zeros(100))  # not metadata: too many values
        f["entry/elsewhere"] = h5py.ExternalLink("other.h5", "/x")  # never followed
    ds = dataset_register(owner=users.owner, name="h5", path=f"{path}:/entry/data")
    meta = client_for(users.owner).get(f"/api/datasets/{ds.pk}/").json()["metadata"]
    assert meta == {"@facility": "ER-C", "entry/instrument/voltage": "300 kV"}
    found = client_for(users.owner).get("/api/datasets/?annotation=entry/instrument/voltage:300")
    assert [d["id"] for d in found.json()["datasets"]] == [ds.pk]


def test_it_stores_the_merlin_header_as_metadata(users, data_root, shared_testdata):
    with zipfile.ZipFile(shared_testdata / "merlin" / "Merlin_navigation4x2_ROI.zip") as z:
        for name in ("001_4x2_6bit.hdr", "001_4x2_6bit.mib"):
            with z.open(name) as src, open(data_root / name, "wb") as out:
                shutil.copyfileobj(src, out)
    ds = dataset_register(
        owner=users.owner, name="merlin", path=str(data_root / "001_4x2_6bit.mib")
    )
    meta = dict(ds.annotations.values_list("key", "value"))
    assert meta["Counter Depth"] == "6"
    assert meta["Chip Type"] == "Medipix 3RX"
    assert meta["Frames in Acquisition"] == "8"
    assert set(ds.annotations.values_list("source", flat=True)) == {"detected"}


def test_it_filters_by_format_shape_and_date(users, dataset, h5_file, client_for):
    h5 = dataset_register(owner=users.owner, name="other", path=str(h5_file))
    client = client_for(users.owner)

    def ids(query):
        response = client.get(f"/api/datasets/?{query}")
        assert response.status_code == 200, response.content
        return {d["id"] for d in response.json()["datasets"]}

    assert ids("format=npy") == {dataset.pk}
    assert ids("format=hdf5") == {h5.pk}
    assert ids("nav_shape=4x5") == {dataset.pk}
    assert ids(f"sig_shape={'x'.join(map(str, h5.sig_shape))}") >= {h5.pk}
    Dataset.objects.filter(pk=h5.pk).update(created=timezone.now() - timedelta(days=40))
    today = timezone.localdate().isoformat()
    assert ids(f"created_after={today}") == {dataset.pk}
    assert ids(f"created_before={(timezone.localdate() - timedelta(days=30)).isoformat()}") == {
        h5.pk
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("format=tiff", "format"),
        ("nav_shape=big", "nav_shape"),
        ("created_after=yesterday", "created_after"),
        ("page=0", "page"),
        ("page_size=1000", "page_size"),
        ("annotation=:x", "annotation"),
    ],
)
def test_it_refuses_bad_filters_naming_the_field(users, dataset, client_for, query, field):
    response = client_for(users.owner).get(f"/api/datasets/?{query}")
    assert response.status_code == 400 and list(response.json()["fields"]) == [field]
    page = client_for(users.owner).get(f"/datasets/?{query}")
    assert page.status_code == 400 and field in page.content.decode()


def test_it_pages_through_the_catalogue(users, data_root, client_for):
    for i in range(5):
        np.save(data_root / f"s{i}.npy", np.zeros((2, 2, 4, 4), dtype=np.uint8))
        dataset_register(owner=users.owner, name=f"s{i}", path=str(data_root / f"s{i}.npy"))
    client = client_for(users.owner)
    first = client.get("/api/datasets/?q=s&page_size=2").json()
    assert (first["count"], first["pages"], first["page"]) == (5, 3, 1)
    assert [d["name"] for d in first["datasets"]] == ["s4", "s3"]  # newest first
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [d["name"] for d in second["datasets"]] == ["s2", "s1"]
    last = client.get(second["next"]).json()
    assert [d["name"] for d in last["datasets"]] == ["s0"] and last["next"] is None
    page = client.get("/datasets/?page_size=2&page=2").content.decode()
    assert "Page 2 of 3" in page and "page_size=2&amp;page=3" in page
