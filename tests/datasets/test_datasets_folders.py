"""Data folders: staff declare which folders which groups may use; nothing else is open.

The ``data_root`` fixture declares the root open to every signed-in user; these tests replace
that declaration to build the situations they need.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apps.core.io.raw import write_sidecar
from apps.datasets.folders import folder_declare
from apps.datasets.models import DataFolder, Dataset
from apps.datasets.paths import browse, user_folders
from apps.datasets.services import dataset_register, dataset_share

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab_folder(users, data_root) -> Path:
    """``data_root`` undeclared (staff only) and ``data_root/lab`` declared for the group lab."""
    DataFolder.objects.all().delete()
    folder = data_root / "lab"
    folder.mkdir()
    np.save(folder / "scan.npy", np.zeros((2, 3, 4, 4), dtype=np.uint8))
    np.save(data_root / "staff.npy", np.zeros((2, 3, 4, 4), dtype=np.uint8))
    folder_declare(path=str(folder), groups=["lab"])
    return folder


def register(user, path: Path | str, name: str = "S") -> Dataset:
    return dataset_register(owner=user, name=name, path=str(path))


def refusal(user, path: Path | str) -> str:
    with pytest.raises(ValidationError) as info:
        register(user, path)
    assert set(info.value.message_dict) == {"path"}
    return " ".join(info.value.messages)


def test_it_prints_one_json_line_per_declaration(users, data_root, capsys):
    (data_root / "lab").mkdir()
    call_command("datafolder", str(data_root / "lab"), "--groups", "lab,other")
    line = capsys.readouterr().out.strip().splitlines()
    assert len(line) == 1
    assert json.loads(line[0]) == {
        "path": str(data_root / "lab"),
        "groups": ["lab", "other"],
        "open_to_all": False,
        "created": True,
    }
    call_command("datafolder", str(data_root / "lab"), "--groups", "")
    assert json.loads(capsys.readouterr().out) == {
        "path": str(data_root / "lab"),
        "groups": [],
        "open_to_all": True,
        "created": False,
    }
    row = DataFolder.objects.get(path=str(data_root / "lab"))
    assert row.open_to_all and not row.groups.exists()


def test_it_removes_a_declaration(users, data_root, capsys):
    call_command("datafolder", str(data_root), "--remove")
    assert json.loads(capsys.readouterr().out) == {"path": str(data_root), "removed": True}
    assert not DataFolder.objects.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc", "outside the data folders"),
        ("../data-evil", "outside the data folders"),
        ("missing", "does not exist"),
        ("scan.npy", "is not a folder"),
    ],
)
def test_it_refuses_folders_outside_the_roots_or_missing(users, npy_file, path, message):
    with pytest.raises(CommandError, match=message):
        call_command("datafolder", path, "--groups", "lab")
    assert DataFolder.objects.count() == 1  # only the fixture's declaration


def test_it_refuses_unknown_groups(users, data_root):
    with pytest.raises(CommandError, match="no group named 'nope'"):
        call_command("datafolder", str(data_root), "--groups", "lab,nope")
    assert DataFolder.objects.get().open_to_all  # the old declaration is untouched


def test_undeclared_roots_are_for_staff_only(users, data_root, npy_file):
    DataFolder.objects.all().delete()
    assert browse(users.owner, None)["entries"] == []
    assert "not in a data folder you may use" in refusal(users.owner, npy_file)
    with pytest.raises(ValidationError, match="not in a data folder you may use"):
        browse(users.owner, str(data_root))
    assert [e["path"] for e in browse(users.staff, None)["entries"]] == [str(data_root)]
    assert register(users.staff, npy_file).owner == users.staff


def test_a_group_folder_is_for_its_members_and_staff(users, lab_folder):
    for user in (users.owner, users.member):
        tops = browse(user, None)["entries"]
        assert [e["path"] for e in tops] == [str(lab_folder)]
        listing = browse(user, str(lab_folder))
        assert listing["parent"] is None  # the root above is closed to them
        assert [e["name"] for e in listing["entries"]] == ["scan.npy"]
    assert register(users.member, lab_folder / "scan.npy").owner == users.member
    assert browse(users.outsider, None)["entries"] == []
    assert "not in a data folder you may use" in refusal(users.outsider, lab_folder / "scan.npy")
    with pytest.raises(ValidationError, match="not in a data folder you may use"):
        browse(users.outsider, str(lab_folder))


def test_the_message_does_not_reveal_whether_a_closed_path_exists(users, lab_folder):
    real = refusal(users.member, lab_folder.parent / "staff.npy")
    invented = refusal(users.member, lab_folder.parent / "nosuch.npy")
    assert real.replace("staff.npy", "X") == invented.replace("nosuch.npy", "X")


def test_the_nearest_declaration_decides(users, data_root):
    """The root is open to all; ``secret`` inside it only to the group "other"."""
    secret = data_root / "secret"
    secret.mkdir()
    np.save(secret / "s.npy", np.zeros((2, 2, 4, 4), dtype=np.uint8))
    folder_declare(path=str(secret), groups=["other"])
    assert "secret" not in [e["name"] for e in browse(users.owner, str(data_root))["entries"]]
    assert "not in a data folder you may use" in refusal(users.owner, secret / "s.npy")
    users.outsider.groups.add(users.lab.__class__.objects.get(name="other"))
    assert "secret" in [e["name"] for e in browse(users.outsider, str(data_root))["entries"]]
    assert register(users.outsider, secret / "s.npy").owner == users.outsider


def test_the_register_page_says_when_no_folder_is_open(users, lab_folder, client_for):
    page = client_for(users.outsider).get("/datasets/register/").content.decode()
    assert "No data folder is open to you yet" in page
    page = client_for(users.member).get("/datasets/register/").content.decode()
    assert "No data folder is open to you yet" not in page and str(lab_folder) in page


def test_anonymous_users_may_use_nothing(users, data_root):
    from django.contrib.auth.models import AnonymousUser

    assert not user_folders(AnonymousUser()).allows(data_root)
    assert user_folders(users.owner).allows(data_root)


def test_browse_and_register_api_follow_the_folders(users, lab_folder, client_for):
    member, outsider = client_for(users.member), client_for(users.outsider)
    body = {"name": "S", "path": str(lab_folder / "scan.npy")}
    assert member.get("/api/browse/", {"path": str(lab_folder)}).status_code == 200
    response = outsider.get("/api/browse/", {"path": str(lab_folder)})
    assert response.status_code == 400
    assert "not in a data folder you may use" in response.json()["fields"]["path"]
    response = outsider.post("/api/datasets/", body, content_type="application/json")
    assert response.status_code == 400 and not Dataset.objects.exists()
    assert member.post("/api/datasets/", body, content_type="application/json").status_code == 201


def test_registering_a_file_behind_a_dataset_one_may_not_see_is_refused(users, npy_file):
    private = register(users.owner, npy_file, name="alice's")
    message = refusal(users.outsider, npy_file)
    assert "already backs a dataset you may not see" in message
    assert "alice" not in message and "Scan" not in message
    assert Dataset.objects.get() == private
    # Once shared with the member's group, the member may register it too.
    dataset_share(user=users.owner, dataset=private, groups=["lab"])
    assert register(users.member, npy_file).owner == users.member
    assert register(users.staff, npy_file).owner == users.staff


def test_a_raw_file_behind_someone_elses_sidecar_is_refused(users, raw_sidecar):
    register(users.owner, raw_sidecar)
    data = raw_sidecar.parent / "data.raw"
    with pytest.raises(ValidationError, match="already backs a dataset you may not see"):
        dataset_register(
            owner=users.outsider,
            name="again",
            path=str(data),
            format="raw",
            params={"nav_shape": [2, 3], "sig_shape": [8, 8], "dtype": "<f4"},
        )


def test_staff_declare_folders_in_the_admin(users, data_root, client_for):
    (data_root / "new").mkdir()
    client = client_for(users.staff)
    users.staff.is_superuser = True
    users.staff.save()
    url = "/admin/datasets/datafolder/add/"
    bad = client.post(url, {"path": "/etc", "groups": [users.lab.pk]})
    assert bad.status_code == 200 and "outside the data folders" in bad.content.decode()
    ok = client.post(url, {"path": str(data_root / "x" / ".." / "new"), "groups": [users.lab.pk]})
    assert ok.status_code == 302
    row = DataFolder.objects.get(path=str(data_root / "new"))
    assert [g.name for g in row.groups.all()] == ["lab"] and not row.open_to_all


def test_make_demo_data_opens_the_demo_folder(users, data_root, monkeypatch):
    from apps.datasets.management.commands import make_demo_data

    def tiny_demo(folder: Path) -> tuple[Path, Path]:  # the real demo is 256 MiB
        folder.mkdir()
        np.zeros((2, 2, 4, 4), dtype="<u2").tofile(folder / "demo.raw")
        doc = {"dtype": "<u2", "nav_shape": [2, 2], "sig_shape": [4, 4], "path": "demo.raw"}
        write_sidecar(folder / "demo.json", doc)
        with h5py.File(folder / "demo.h5", "w") as f:
            f.create_dataset("/entry/data/data", data=np.zeros((2, 2, 4, 4), dtype=np.uint16))
        return folder / "demo.json", folder / "demo.h5"

    monkeypatch.setattr(make_demo_data, "write_demo", tiny_demo)
    DataFolder.objects.all().delete()
    call_command("make_demo_data")
    row = DataFolder.objects.get()
    assert row.path == str(data_root / "demo") and row.open_to_all
    assert [e["path"] for e in browse(users.outsider, None)["entries"]] == [row.path]
