"""Links between data folders open to different people (issue 19, beyond the list).

alice may use the folder ``lab/`` (group lab, with bob) and ``private/`` (her group only). She
shares a dataset whose file lies in ``lab/``. bob, who may write into ``lab/`` like every lab
member, rewrites that file so that its data is an external link into ``private/``; his next
analysis of the shared dataset would read alice's private data with *her* reach. So a file may
refer only to files in folders open to at least everyone its own folder is open to: whoever
could have written the link could also have read the target.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from apps.core.errors import DataSetError
from apps.datasets.folders import folder_declare
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_open, dataset_register
from apps.jobs.models import Job
from tests.jobs.support import submit, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("inline_executor", "thread_runner"),
]

FRAMES = (2, 2, 8, 8)
PRIVATE_VALUE = 42


@pytest.fixture
def folders(users: SimpleNamespace, settings: Any, tmp_path: Path) -> SimpleNamespace:
    root = (tmp_path / "data").resolve()
    places = SimpleNamespace(
        root=root, lab=root / "lab", private=root / "private", everyone=root / "everyone"
    )
    for folder in (places.lab, places.private, places.everyone, root / "staff"):
        folder.mkdir(parents=True)
    settings.DATA_ROOTS = [root]
    mine = Group.objects.create(name="alice-only")
    users.owner.groups.add(mine)
    folder_declare(path=str(places.lab), groups=["lab"])
    folder_declare(path=str(places.private), groups=["alice-only"])
    folder_declare(path=str(places.everyone), open_to_all=True)
    for folder in (places.private, places.everyone, root / "staff"):
        with h5py.File(folder / "data.h5", "w") as f:
            f["data"] = np.full(FRAMES, PRIVATE_VALUE, dtype=np.uint8)
    return places


def _write(path: Path, target: str | None) -> None:
    with h5py.File(path, "w") as f:
        if target is None:
            f["data"] = np.zeros(FRAMES, dtype=np.uint8)
        else:
            f["data"] = h5py.ExternalLink(target, "/data")


def _registered_then_linked(owner: Any, path: Path, target: str) -> Dataset:
    """A plain HDF5 file registered for "lab", then rewritten to link to ``target``."""
    _write(path, None)
    row = dataset_register(
        owner=owner, name=path.stem, path=str(path), params={"dataset": "/data"}, groups=["lab"]
    )
    _write(path, target)
    return row


def test_a_member_cannot_make_a_shared_dataset_read_the_owners_private_folder(
    users: SimpleNamespace, folders: SimpleNamespace, client_for: Any
) -> None:
    # bob rewrites the file he may write to
    row = _registered_then_linked(users.owner, folders.lab / "shared.h5", "../private/data.h5")
    with pytest.raises(DataSetError, match=re.escape("../private/data.h5")):
        dataset_open(row)
    job = wait_terminal(submit(client_for(users.member), row, "sum").json()["id"])
    assert job.status == Job.Status.FAILED
    assert str(folders.private / "data.h5") in job.error or "../private/data.h5" in job.error
    assert not job.results.exists()


def test_a_staff_dataset_in_a_group_folder_cannot_reach_staff_folders(
    users: SimpleNamespace, folders: SimpleNamespace
) -> None:
    row = _registered_then_linked(users.staff, folders.lab / "from-staff.h5", "../staff/data.h5")
    with pytest.raises(DataSetError):
        dataset_open(row)


def test_registration_refuses_a_link_into_a_narrower_folder(
    users: SimpleNamespace, folders: SimpleNamespace
) -> None:
    everyone = folders.everyone / "to-lab.h5"
    (folders.lab / "scan.h5").write_bytes((folders.private / "data.h5").read_bytes())
    _write(everyone, "../lab/scan.h5")
    with pytest.raises(ValidationError) as refused:
        dataset_register(
            owner=users.member, name="x", path=str(everyone), params={"dataset": "/data"}
        )
    assert "../lab/scan.h5" in str(refused.value)


@pytest.mark.parametrize(
    ("holder", "target"),
    [("lab", "../lab/data-in-lab.h5"), ("lab", "../everyone/data.h5"), ("private", "../lab/data-in-lab.h5")],
)  # fmt: skip
def test_links_into_folders_open_to_at_least_as_many_people_are_read(
    users: SimpleNamespace, folders: SimpleNamespace, holder: str, target: str
) -> None:
    (folders.lab / "data-in-lab.h5").write_bytes((folders.private / "data.h5").read_bytes())
    path = folders.root / holder / "link.h5"
    _write(path, target)
    row = dataset_register(
        owner=users.owner, name="ok", path=str(path), params={"dataset": "/data"}
    )
    part = dataset_open(row).partitions()[0]
    np.testing.assert_array_equal(
        part.read(part.start, part.stop), np.full((4, 64), PRIVATE_VALUE, dtype=np.uint8)
    )
