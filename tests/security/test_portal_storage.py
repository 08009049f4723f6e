"""Folders the portal writes, inside a data folder (issue 19, beyond the list).

A facility may put ``INGEST_ROOT`` or a node's storage (``DATA_NODES``) inside a data root,
even inside a folder open to users. A sidecar in ``INGEST_ROOT`` is trusted as written by
ingestion: its partitions are read from node storage, which holds every user's ingested data.
So neither may be browsed, registered from or linked to by anyone: a user who registered a
harmless file there and then replaced it with a sidecar naming another user's ingested
partitions would read them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest
from django.core.exceptions import ValidationError

from apps.datasets.paths import browse
from apps.datasets.services import dataset_register
from tests.security.attacks import Places

pytestmark = pytest.mark.django_db


@pytest.fixture
def inside(places: Places, settings: Any) -> SimpleNamespace:
    ingested = places.data / "ingested"
    node = places.data / "nodes" / "node-a"
    for folder in (ingested, node):
        folder.mkdir(parents=True)
        np.save(folder / "scan.npy", np.zeros((2, 2, 8, 8), dtype=np.uint8))
    settings.INGEST_ROOT = ingested
    settings.DATA_NODES = {"node-a": f"file://{node}"}
    return SimpleNamespace(ingested=ingested, node=node)


@pytest.mark.parametrize("where", ["ingested", "node"])
def test_files_in_portal_storage_cannot_be_registered(
    users: SimpleNamespace, inside: SimpleNamespace, where: str
) -> None:
    path = getattr(inside, where) / "scan.npy"
    for user in (users.owner, users.staff):
        with pytest.raises(ValidationError) as refused:
            dataset_register(owner=user, name="x", path=str(path))
        assert "is not in a data folder you may use" in str(refused.value)


def test_portal_storage_is_not_listed(
    users: SimpleNamespace, places: Places, inside: SimpleNamespace
) -> None:
    names = [e["name"] for e in browse(users.owner, str(places.data))["entries"]]
    assert "ingested" not in names
    assert "node-a" not in [
        e["name"] for e in browse(users.owner, str(places.data / "nodes"))["entries"]
    ]
    with pytest.raises(ValidationError):
        browse(users.owner, str(inside.ingested))


def test_a_link_into_node_storage_is_refused(
    users: SimpleNamespace, places: Places, inside: SimpleNamespace
) -> None:
    path = places.data / "to-node.h5"
    with h5py.File(inside.node / "part.h5", "w") as f:
        f["data"] = np.zeros((2, 2, 8, 8), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f["data"] = h5py.ExternalLink(str(inside.node / "part.h5"), "/data")
    with pytest.raises(ValidationError) as refused:
        dataset_register(owner=users.owner, name="x", path=str(path), params={"dataset": "/data"})
    assert "external link /data" in str(refused.value)
