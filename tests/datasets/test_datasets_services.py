from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError

from apps.core.errors import DataSetError
from apps.core.io.raw import write_sidecar
from apps.datasets.models import Dataset
from apps.datasets.services import (
    dataset_delete,
    dataset_detect,
    dataset_open,
    dataset_register,
    dataset_share,
)

pytestmark = pytest.mark.django_db


def refused(users, field, **kwargs):
    args = {"owner": users.owner, "name": "x", **kwargs}
    with pytest.raises(ValidationError) as info:
        dataset_register(**args)
    assert field in info.value.message_dict, info.value.message_dict
    assert Dataset.objects.count() == 0
    return " ".join(info.value.message_dict[field])


def test_it_registers_an_npy_file_with_its_description(users, npy_file):
    ds = dataset_register(owner=users.owner, name=" Scan ", path="scan.npy", groups=["lab"])
    ds.refresh_from_db()
    assert (ds.name, ds.format, ds.path, ds.dtype) == ("Scan", "npy", str(npy_file), "<u2")
    assert (ds.nav_shape, ds.sig_shape, ds.params) == ([4, 5], [8, 8], {})
    assert ds.status == Dataset.Status.READY
    assert [(p["start"], p["stop"]) for p in ds.partitions] == [(0, 20)]
    assert ds.partitions[0]["path"] == str(npy_file)
    assert [g.name for g in ds.groups.all()] == ["lab"]


def test_it_registers_a_raw_sidecar(users, raw_sidecar):
    ds = dataset_register(owner=users.owner, name="raw", path=str(raw_sidecar))
    assert (ds.format, ds.nav_shape, ds.sig_shape, ds.dtype) == ("raw", [2, 3], [8, 8], "<f4")
    assert ds.partitions[0]["path"] == str(raw_sidecar.parent / "data.raw")


def test_it_registers_a_headerless_raw_file_with_params(users, data_root):
    np.zeros((6, 4, 4), dtype="<i2").tofile(data_root / "plain.bin")
    params = {"nav_shape": [2, 3], "sig_shape": [4, 4], "dtype": "<i2"}
    ds = dataset_register(
        owner=users.owner, name="plain", path="plain.bin", format="raw", params=params
    )
    assert ds.params == {**params, "offset": 0}
    assert dataset_open(ds).n_frames == 6


def test_it_registers_an_hdf5_inner_dataset(users, h5_file):
    ds = dataset_register(owner=users.owner, name="h5", path="scan.h5:/entry/small")
    assert ds.path == str(h5_file)
    assert ds.params == {"dataset": "/entry/small"}
    assert (ds.nav_shape, ds.dtype) == ([2], "|u1")
    auto = dataset_register(owner=users.owner, name="h5", path="scan.h5")
    assert auto.params == {"dataset": "/entry/data"} and auto.nav_shape == [3, 4]


def test_it_detects_without_saving(users, h5_file):
    assert dataset_detect(user=users.owner, path="scan.h5")["format"] == "hdf5"
    assert Dataset.objects.count() == 0


def test_it_refuses_a_sidecar_whose_data_lies_outside_the_roots(users, data_root):
    outside = data_root.parent / "data-evil" / "secret.raw"
    np.zeros((2, 8, 8), dtype="<u1").tofile(outside)
    write_sidecar(
        data_root / "evil.json",
        {"dtype": "|u1", "nav_shape": [2], "sig_shape": [8, 8], "path": "../data-evil/secret.raw"},
    )
    assert "outside the data folders" in refused(users, "path", path="evil.json")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("name", {"name": ""}),
        ("name", {"name": "  "}),
        ("name", {"name": 5}),
        ("name", {"name": "n" * 201}),
        ("format", {"format": "tiff"}),
        ("format", {"format": ["npy"]}),
        ("params", {"params": "nav_shape"}),
        ("params", {"params": [1]}),
        ("params", {"params": {"x": float("nan")}}),
        ("groups", {"groups": ["other"]}),
        ("groups", {"groups": ["nope"]}),
        ("groups", {"groups": "lab"}),
        ("groups", {"groups": [3]}),
        ("path", {"path": "missing.npy"}),
        ("path", {"path": "../outside.npy"}),
        ("params", {"params": {"bogus": 1}}),
    ],
)
def test_it_refuses_bad_input_and_saves_nothing(users, npy_file, field, kwargs):
    refused(users, field, **{"path": "scan.npy", **kwargs})


def test_it_refuses_raw_params_that_do_not_fit_the_file(users, data_root):
    np.zeros(100, dtype="<u2").tofile(data_root / "plain.bin")
    params = {"nav_shape": [2, 3], "sig_shape": [4, 4], "dtype": "<u2"}
    message = refused(users, "params", path="plain.bin", format="raw", params=params)
    assert "200 bytes" in message and "plain.bin" in message


def test_it_explains_an_unknown_format(users, data_root):
    (data_root / "notes.txt").write_text("hello")
    assert "unknown format" in refused(users, "path", path="notes.txt")


def test_it_reopens_a_dataset_and_names_it_when_that_fails(dataset, npy_file):
    assert dataset_open(dataset).nav_shape == (4, 5)
    npy_file.write_bytes(b"garbage")
    with pytest.raises(DataSetError, match="Scan 1"):
        dataset_open(dataset)
    npy_file.unlink()
    with pytest.raises(DataSetError, match=f"id {dataset.pk}"):
        dataset_open(dataset)


def test_it_shares_with_the_owners_groups_only(users, dataset):
    dataset_share(user=users.owner, dataset=dataset, groups=[])
    assert not dataset.groups.exists()
    with pytest.raises(ValidationError):
        dataset_share(user=users.owner, dataset=dataset, groups=["other"])
    dataset_share(user=users.staff, dataset=dataset, groups=["other", "lab"])
    assert sorted(g.name for g in dataset.groups.all()) == ["lab", "other"]


def test_it_lets_only_owner_and_staff_share_and_delete(users, dataset):
    for user in (users.member, users.outsider):
        with pytest.raises(PermissionDenied):
            dataset_share(user=user, dataset=dataset, groups=[])
        with pytest.raises(PermissionDenied):
            dataset_delete(user=user, dataset=dataset)
    assert dataset.groups.count() == 1
    dataset_delete(user=users.staff, dataset=dataset)
    assert not Dataset.objects.exists()
    assert Group.objects.filter(name="lab").exists()
