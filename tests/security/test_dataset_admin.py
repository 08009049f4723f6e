"""The Dataset admin validates like registration: path inside the owner's data folders, format
parameters against the file, shapes taken from the file (issue 19 point 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.datasets.models import Dataset

pytestmark = pytest.mark.django_db

ADD = "/admin/datasets/dataset/add/"


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", password="pw-admin-123"))
    return client


def form(owner: User, path: str, **extra: str) -> dict[str, str]:
    return {
        "name": "scan",
        "owner": str(owner.pk),
        "path": path,
        "format": "",
        "params": "",
        "status": "ready",
        "error": "",
        **extra,
    }


def errors(response) -> str:
    assert response.status_code == 200  # the form again, with its errors
    return " ".join(str(e) for e in response.context["adminform"].form.errors.values())


def test_it_refuses_a_path_outside_the_data_folders(admin_client, users, data_root):
    response = admin_client.post(ADD, form(users.owner, "/etc/passwd"))
    assert "outside the data folders" in errors(response)
    assert not Dataset.objects.exists()


def test_it_refuses_a_path_in_a_folder_the_owner_may_not_use(
    admin_client, users, data_root, tmp_path, settings
):
    other = tmp_path / "other"
    other.mkdir()
    np.save(other / "scan.npy", np.zeros((2, 2, 4, 4), np.uint16))
    settings.DATA_ROOTS = [data_root.resolve(), other.resolve()]
    response = admin_client.post(ADD, form(users.owner, str(other / "scan.npy")))
    assert "not in a data folder you may use" in errors(response)
    assert not Dataset.objects.exists()


def test_it_refuses_shapes_the_file_does_not_have(admin_client, users, data_root, data):
    path = data_root / "scan.raw"
    data.tofile(path)
    params = {"nav_shape": [100, 100], "sig_shape": list(data.shape[-2:]), "dtype": "<u2"}
    response = admin_client.post(
        ADD, form(users.owner, str(path), format="raw", params=json.dumps(params))
    )
    assert "were expected for its frames" in errors(response)
    deep = admin_client.post(ADD, form(users.owner, str(path), params="[" * 5000 + "]" * 5000))
    assert "nested more than 16 levels deep" in errors(deep)
    assert not Dataset.objects.exists()


def test_it_takes_shapes_and_dtype_from_the_file(admin_client, users, data_root, data):
    path = data_root / "scan.npy"
    np.save(path, data)
    # Shapes are read-only: posted values are ignored.
    body = form(users.owner, str(path), nav_shape="[1, 1]", sig_shape="[9999, 1]")
    response = admin_client.post(ADD, body)
    assert response.status_code == 302, errors(response)
    dataset = Dataset.objects.get()
    assert (dataset.nav_shape, dataset.sig_shape, dataset.dtype) == ([6, 8], [16, 12], "<u2")
    assert (dataset.format, dataset.path) == ("npy", str(Path(path).resolve()))
    assert len(dataset.partitions) >= 1


def test_changing_the_path_validates_again_and_keeps_the_row(
    admin_client, users, data_root, dataset
):
    url = f"/admin/datasets/dataset/{dataset.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    body = form(users.owner, "/etc/passwd", name="renamed", format=dataset.format)
    assert "outside the data folders" in errors(admin_client.post(url, body))
    dataset.refresh_from_db()
    assert (dataset.name, dataset.path) == ("scan", str((data_root / "scan.npy").resolve()))

    # Renaming alone does not need the file again.
    body = form(
        users.owner,
        dataset.path,
        name="renamed",
        format=dataset.format,
        params=json.dumps(dataset.params),
    )
    assert admin_client.post(url, body).status_code == 302
    dataset.refresh_from_db()
    assert dataset.name == "renamed"
