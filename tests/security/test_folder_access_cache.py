"""The folder audiences are kept per process (apps.datasets.audiences), yet access revoked a
moment ago is obeyed by the very next job and the very next check.

alice's dataset lies in ``private/``, a folder declared for her group ``alice-only``. A first
job reads the folders (and leaves them cached); then her access goes, one way or another; her
next job must fail naming the file, and the file browser must refuse the folder at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.errors import DataSetError
from apps.datasets.folders import folder_declare, folder_remove
from apps.datasets.models import DataFolder, Dataset, FolderAccessVersion
from apps.datasets.paths import user_folders
from apps.datasets.services import dataset_open, dataset_register
from apps.jobs.models import Job
from tests.jobs.support import submit, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

FRAMES = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)


@pytest.fixture
def private(users: SimpleNamespace, settings: Any, tmp_path: Path) -> SimpleNamespace:
    # as migrated (a flush between tests removes the token's row, and no cache works without)
    FolderAccessVersion.objects.get_or_create(pk=1, defaults={"token": "migrated"})
    root = (tmp_path / "data").resolve()
    folder = root / "private"
    folder.mkdir(parents=True)
    settings.DATA_ROOTS = [root]
    group = Group.objects.create(name="alice-only")
    users.owner.groups.add(group)
    folder_declare(path=str(folder), groups=["alice-only"])
    np.save(folder / "scan.npy", FRAMES)
    dataset = dataset_register(owner=users.owner, name="scan", path=str(folder / "scan.npy"))
    return SimpleNamespace(folder=folder, group=group, dataset=dataset)


def _sum_job(client: Any, dataset: Dataset) -> Job:
    """A job that reads the data (not the result cache's copy of the last one)."""
    return wait_terminal(submit(client, dataset, "sum", reuse=False).json()["id"])


def _folder_queries(run: Callable[[], object]) -> list[str]:
    """The statements ``run`` sent that read the folders or the memberships."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [
        q["sql"] for q in captured if "datafolder" in q["sql"] or "auth_user_groups" in q["sql"]
    ]


def _drop_membership(users: SimpleNamespace, private: SimpleNamespace) -> None:
    users.owner.groups.remove(private.group)


def _drop_membership_from_the_group(users: SimpleNamespace, private: SimpleNamespace) -> None:
    private.group.user_set.clear()


def _redeclare_for_staff(users: SimpleNamespace, private: SimpleNamespace) -> None:
    folder_declare(path=str(private.folder), groups=[])


def _remove_declaration(users: SimpleNamespace, private: SimpleNamespace) -> None:
    folder_remove(path=str(private.folder))


def _delete_group(users: SimpleNamespace, private: SimpleNamespace) -> None:
    private.group.delete()


def _unlink_group_in_admin_style(users: SimpleNamespace, private: SimpleNamespace) -> None:
    DataFolder.objects.get(path=str(private.folder)).groups.remove(private.group)


def test_the_audiences_are_read_once_while_nothing_changes(
    users: SimpleNamespace, private: SimpleNamespace
) -> None:
    dataset_open(private.dataset)
    assert _folder_queries(lambda: dataset_open(private.dataset)) == []
    assert _folder_queries(lambda: user_folders(users.owner)) == []


@pytest.mark.parametrize(
    "revoke",
    [
        _drop_membership,
        _drop_membership_from_the_group,
        _redeclare_for_staff,
        _remove_declaration,
        _delete_group,
        _unlink_group_in_admin_style,
    ],
)
def test_the_next_job_obeys_a_revoked_folder_access(
    users: SimpleNamespace, private: SimpleNamespace, client_for: Any, revoke: Any
) -> None:
    client = client_for(users.owner)
    first = _sum_job(client, private.dataset)
    assert first.status == Job.Status.FINISHED, first.error
    assert user_folders(users.owner).allows(private.folder)
    assert _folder_queries(lambda: dataset_open(private.dataset)) == []  # served from the cache

    revoke(users, private)

    assert not user_folders(users.owner).allows(private.folder)
    refused = _sum_job(client, private.dataset)
    assert refused.status == Job.Status.FAILED
    assert str(private.folder / "scan.npy") in refused.error
    assert not refused.results.exists()


def test_a_link_allowed_while_the_other_member_was_staff_is_refused_once_he_is_not(
    users: SimpleNamespace, private: SimpleNamespace
) -> None:
    """A file in ``lab/`` may link into ``private/`` only if everyone who may use ``lab/`` may
    use ``private/``; staff count in no audience. bob (lab) loses staff: the link is refused."""
    users.member.is_staff = True
    users.member.save()
    lab = private.folder.parent / "lab"
    lab.mkdir()
    folder_declare(path=str(lab), groups=["lab"])
    with h5py.File(private.folder / "data.h5", "w") as f:
        f["data"] = FRAMES
    with h5py.File(lab / "link.h5", "w") as f:
        f["data"] = h5py.ExternalLink("../private/data.h5", "/data")
    row = dataset_register(
        owner=users.owner, name="link", path=str(lab / "link.h5"), params={"dataset": "/data"}
    )
    dataset_open(row)

    users.member.is_staff = False
    users.member.save()

    with pytest.raises(DataSetError, match=re.escape("../private/data.h5")):
        dataset_open(row)


def test_a_change_rolled_back_leaves_nothing_cached(
    users: SimpleNamespace, private: SimpleNamespace
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        folder_declare(path=str(private.folder), groups=["lab"])
        assert user_folders(users.member).allows(private.folder)  # read inside the change
        raise RuntimeError("rolled back")
    assert not user_folders(users.member).allows(private.folder)
    Group.objects.create(name="unrelated").user_set.add(users.outsider)  # a later change
    assert not user_folders(users.member).allows(private.folder)
