from __future__ import annotations

import json
import os

import pytest

from apps.accounts.services import token_create
from apps.datasets.models import Dataset

pytestmark = pytest.mark.django_db

DATASET_KEYS = {
    "id",
    "name",
    "owner",
    "groups",
    "format",
    "path",
    "calibration",
    "pixel_size",
    "beam_energy",
    "convergence_angle",
    "calibrated",
    "params",
    "nav_shape",
    "sig_shape",
    "dtype",
    "nbytes",
    "partitions",
    "status",
    "origin",
    "error",
    "created",
    "url",
    "page",
    "thumbnails",
    "notes",
    "tags",
    "annotations",
    "metadata",
}


def post(client, body):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post("/api/datasets/", text, content_type="application/json")


def test_it_lists_visible_datasets(users, dataset, client_for):
    for user in (users.owner, users.member, users.staff):
        data = client_for(user).get("/api/datasets/").json()
        assert [d["id"] for d in data["datasets"]] == [dataset.pk]
    empty = client_for(users.outsider).get("/api/datasets/").json()
    assert empty["datasets"] == [] and empty["count"] == 0
    assert client_for(None).get("/api/datasets/").status_code == 401


def test_it_searches_by_name(users, dataset, client_for):
    client = client_for(users.owner)
    assert len(client.get("/api/datasets/?q=scan").json()["datasets"]) == 1
    assert client.get("/api/datasets/?q=nothing").json()["datasets"] == []


def test_it_describes_a_dataset(users, dataset, npy_file, client_for):
    data = client_for(users.owner).get(f"/api/datasets/{dataset.pk}/").json()
    assert set(data) == DATASET_KEYS
    assert data["owner"] == "alice" and data["groups"] == ["lab"]
    assert (data["nav_shape"], data["sig_shape"], data["dtype"]) == ([4, 5], [8, 8], "<u2")
    assert data["nbytes"] == 4 * 5 * 8 * 8 * 2
    assert data["path"] == str(npy_file)
    assert data["url"] == f"/api/datasets/{dataset.pk}/"
    assert data["page"] == f"/datasets/{dataset.pk}/"
    assert data["partitions"][0]["stop"] == 20
    assert data["origin"] == "file"


def test_it_shows_a_dataset_to_owner_member_and_staff_only(users, dataset, client_for):
    url = f"/api/datasets/{dataset.pk}/"
    for user in (users.owner, users.member, users.staff):
        assert client_for(user).get(url).status_code == 200
    response = client_for(users.outsider).get(url)
    assert response.status_code == 404 and response.json()["error"]
    assert client_for(None).get(url).status_code == 401
    assert client_for(users.owner).get("/api/datasets/999999/").status_code == 404


def test_it_deletes_for_owner_only(users, dataset, client_for):
    url = f"/api/datasets/{dataset.pk}/"
    assert client_for(None).delete(url).status_code == 401
    assert client_for(users.outsider).delete(url).status_code == 404
    response = client_for(users.member).delete(url)
    assert response.status_code == 403 and "owner" in response.json()["error"]
    assert Dataset.objects.count() == 1
    assert client_for(users.owner).delete(url).status_code == 204
    assert Dataset.objects.count() == 0


def test_it_lets_staff_delete(users, dataset, client_for):
    assert client_for(users.staff).delete(f"/api/datasets/{dataset.pk}/").status_code == 204
    assert not Dataset.objects.exists()


def test_it_registers_through_the_api(users, h5_file, client_for):
    response = post(
        client_for(users.member), {"name": "h5", "path": "scan.h5:/entry/data", "groups": ["lab"]}
    )
    assert response.status_code == 201
    data = response.json()
    assert set(data) == DATASET_KEYS
    assert (data["owner"], data["format"], data["nav_shape"]) == ("bob", "hdf5", [3, 4])
    assert Dataset.objects.get().groups.get().name == "lab"


def test_it_registers_with_a_token(client, users, npy_file):
    _, key = token_create(user=users.owner, name="t")
    response = client.post(
        "/api/datasets/",
        json.dumps({"name": "n", "path": str(npy_file)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert response.status_code == 201
    assert Dataset.objects.get().owner == users.owner


def test_it_refuses_anonymous_registration(users, npy_file, client_for):
    assert post(client_for(None), {"name": "n", "path": "scan.npy"}).status_code == 401
    assert Dataset.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", None),
        ("[1, 2]", None),
        ('{"name": "n", "path": "scan.npy", "params": {"x": NaN}}', None),
        ('{"name": "n", "path": "scan.npy", "params": {"x": Infinity}}', None),
        ({"path": "scan.npy"}, "name"),
        ({"name": "n"}, "path"),
        ({"name": 5, "path": "scan.npy"}, "name"),
        ({"name": "n", "path": ["scan.npy"]}, "path"),
        ({"name": "n", "path": "scan.npy", "params": "x"}, "params"),
        ({"name": "n", "path": "scan.npy", "format": "tiff"}, "format"),
        ({"name": "n", "path": "scan.npy", "format": 3}, "format"),
        ({"name": "n", "path": "scan.npy", "groups": "lab"}, "groups"),
        ({"name": "n", "path": "scan.npy", "groups": ["other"]}, "groups"),
        ({"name": "n", "path": "../data-evil/scan.npy"}, "path"),
        ({"name": "n", "path": "/etc/passwd"}, "path"),
        ({"name": "n", "path": "scan\u0000.npy"}, "path"),
        ({"name": "n", "path": "a" * 5000}, "path"),
        ({"name": "n", "path": "link.npy"}, "path"),
        ({"name": "n", "path": "nothing-here.npy"}, "path"),
    ],
)
def test_it_refuses_bad_registrations_and_saves_nothing(
    users, npy_file, tmp_path, client_for, body, field
):
    os.symlink(tmp_path / "secret.npy", npy_file.parent / "link.npy")
    response = post(client_for(users.owner), body)
    assert response.status_code == 400
    data = response.json()
    assert data["error"] and isinstance(data["fields"], dict)
    if field:
        assert field in data["fields"]
    assert Dataset.objects.count() == 0


def test_it_refuses_unsupported_methods(users, dataset, client_for):
    response = client_for(users.owner).put(
        f"/api/datasets/{dataset.pk}/", "{}", content_type="application/json"
    )
    assert response.status_code == 405
    assert "GET, DELETE" in response["Allow"]


def test_it_browses_inside_the_roots(users, data_root, npy_file, client_for):
    client = client_for(users.outsider)
    roots = client.get("/api/browse/").json()
    assert [e["path"] for e in roots["entries"]] == [str(data_root)]
    folder = client.get("/api/browse/", {"path": str(data_root)}).json()
    assert [e["path"] for e in folder["entries"]] == [str(npy_file)]


@pytest.mark.parametrize(
    "path", ["..", "../data-evil", "/etc", "/", "linkdir", "a\x00b", "a" * 5000, "scan.npy"]
)
def test_it_refuses_to_browse_outside_or_non_folders(
    users, data_root, npy_file, tmp_path, client_for, path
):
    os.symlink(tmp_path, data_root / "linkdir")
    response = client_for(users.owner).get("/api/browse/", {"path": path})
    assert response.status_code == 400
    assert "path" in response.json()["fields"]


def test_it_refuses_anonymous_browsing(users, data_root, client_for):
    assert client_for(None).get("/api/browse/").status_code == 401


def test_browse_paths_are_accepted_for_registration(users, data_root, h5_file, client_for):
    client = client_for(users.owner)
    entry = client.get("/api/browse/", {"path": str(data_root)}).json()["entries"][0]
    assert post(client, {"name": "n", "path": entry["path"]}).status_code == 201
