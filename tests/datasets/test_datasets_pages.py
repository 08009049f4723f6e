from __future__ import annotations

from pathlib import Path

import pytest

from apps.datasets.models import Dataset

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_it_lists_visible_datasets_with_search(users, dataset, client_for):
    page = client_for(users.member).get("/datasets/")
    assert page.status_code == 200 and "Scan 1" in page.content.decode()
    assert "Scan 1" not in client_for(users.outsider).get("/datasets/").content.decode()
    assert "Scan 1" not in client_for(users.owner).get("/datasets/?q=zzz").content.decode()


def test_it_sends_anonymous_visitors_to_login(users, dataset, client_for):
    client = client_for(None)
    for url in ("/datasets/", "/datasets/register/", f"/datasets/{dataset.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    for url in (f"/datasets/{dataset.pk}/share/", f"/datasets/{dataset.pk}/delete/"):
        assert client.post(url).status_code == 302
    assert Dataset.objects.get().groups.count() == 1


def test_it_shows_the_detail_page_with_owner_controls(users, dataset, client_for):
    page = client_for(users.owner).get(f"/datasets/{dataset.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "4 \u00d7 5" in html and "&lt;u2" in html
    assert f"/datasets/{dataset.pk}/share/" in html and f"/datasets/{dataset.pk}/delete/" in html
    assert page.context["partitions"][0]["frames"] == 20


def test_it_shows_the_detail_page_to_members_without_controls(users, dataset, client_for):
    page = client_for(users.member).get(f"/datasets/{dataset.pk}/")
    assert page.status_code == 200
    assert f"/datasets/{dataset.pk}/delete/" not in page.content.decode()
    staff = client_for(users.staff).get(f"/datasets/{dataset.pk}/")
    assert f"/datasets/{dataset.pk}/delete/" in staff.content.decode()


def test_it_hides_the_detail_page_from_outsiders(users, dataset, client_for):
    client = client_for(users.outsider)
    assert client.get(f"/datasets/{dataset.pk}/").status_code == 404
    assert client.post(f"/datasets/{dataset.pk}/share/", {"groups": []}).status_code == 404
    assert client.post(f"/datasets/{dataset.pk}/delete/").status_code == 404
    assert Dataset.objects.get().groups.count() == 1


def test_it_links_the_analysis_page(users, dataset, client_for):
    page = client_for(users.member).get(f"/datasets/{dataset.pk}/")
    assert f'href="/datasets/{dataset.pk}/analyze/"' in page.content.decode()


def test_it_shares_from_the_page(users, dataset, client_for):
    client = client_for(users.owner)
    assert client.post(f"/datasets/{dataset.pk}/share/", {}).status_code == 302
    assert dataset.groups.count() == 0
    client.post(f"/datasets/{dataset.pk}/share/", {"groups": ["lab"]})
    assert [g.name for g in dataset.groups.all()] == ["lab"]
    client.post(f"/datasets/{dataset.pk}/share/", {"groups": ["other"]})  # alice is not in it
    assert [g.name for g in dataset.groups.all()] == ["lab"]


def test_it_forbids_members_to_share_or_delete(users, dataset, client_for):
    client = client_for(users.member)
    assert client.post(f"/datasets/{dataset.pk}/share/", {}).status_code == 403
    assert client.post(f"/datasets/{dataset.pk}/delete/").status_code == 403
    assert Dataset.objects.get().groups.count() == 1


def test_it_deletes_from_the_page(users, dataset, client_for):
    response = client_for(users.owner).post(f"/datasets/{dataset.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/datasets/"
    assert not Dataset.objects.exists()


def test_it_browses_folders_on_the_register_page(
    users, data_root, raw_sidecar, npy_file, client_for
):
    client = client_for(users.owner)
    roots = client.get("/datasets/register/")
    assert roots.context["listing"]["entries"][0]["path"] == str(data_root)
    page = client.get("/datasets/register/", {"dir": str(data_root)})
    names = [e["name"] for e in page.context["listing"]["entries"]]
    assert names == ["raw", "scan.npy"]
    assert "?dir=" in page.content.decode()


def test_it_falls_back_to_the_roots_when_browsing_outside(users, data_root, client_for):
    page = client_for(users.owner).get("/datasets/register/", {"dir": "/etc"})
    assert page.status_code == 200
    assert "outside the data folders" in page.content.decode()
    assert [e["path"] for e in page.context["listing"]["entries"]] == [str(data_root)]


def test_it_prefills_the_form_from_a_clicked_file(users, h5_file, client_for):
    page = client_for(users.owner).get("/datasets/register/", {"path": str(h5_file)})
    form = page.context["form"]
    assert form.initial["format"] == "hdf5" and form.initial["name"] == "scan"
    assert '"/entry/data"' in form.initial["params"]
    assert "3 \u00d7 4" in page.content.decode()


def test_it_shows_a_detection_error(users, data_root, client_for):
    (data_root / "notes.txt").write_text("hello")
    page = client_for(users.owner).get("/datasets/register/", {"path": "notes.txt"})
    assert "unknown format" in page.content.decode()


def test_it_registers_from_the_page(users, npy_file, client_for):
    response = client_for(users.owner).post(
        "/datasets/register/", {"name": "Mine", "path": str(npy_file), "groups": ["lab"]}
    )
    ds = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/datasets/{ds.pk}/"
    assert ds.name == "Mine" and ds.groups.get().name == "lab"


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"name": "n", "path": "/etc/passwd"}, "path", "outside the data folders"),
        ({"name": "n", "path": "scan.npy", "params": '{"x": NaN}'}, "params", "NaN"),
        ({"name": "n", "path": "scan.npy", "params": "[1]"}, "params", "JSON object"),
        ({"name": "n", "path": "scan.npy", "format": "tiff"}, "format", "Select a valid choice"),
        ({"name": "", "path": "scan.npy"}, "name", "required"),
        ({"name": "n", "path": "scan.npy", "groups": ["other"]}, "groups", "valid choice"),
        ({"name": "n", "path": "scan.npy", "format": "raw"}, "path", "headerless raw"),
    ],
)
def test_it_shows_errors_next_to_the_field(users, npy_file, client_for, data, field, text):
    page = client_for(users.owner).post("/datasets/register/", data)
    assert page.status_code == 200
    assert text in " ".join(page.context["form"].errors[field])
    assert Dataset.objects.count() == 0
