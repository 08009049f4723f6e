"""A catalogue row's data identity (``Dataset.identity``, see :mod:`apps.core.identity`):
recorded at registration, checked by ``stat`` whenever a job is submitted and taken anew when
a file changed (``apps.datasets.services.dataset_identity_current``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.core.identity import files_identity
from apps.core.io.base import DataSet
from apps.core.io.h5path import split_h5_path


def identity_of(ds: DataSet) -> dict[str, Any]:
    """The identity of the files an opened dataset reads (those its open checked, else its
    own path)."""
    checked = getattr(ds, "checked", ()) or ()
    paths = [ref.path for ref in checked] or [split_h5_path(ds.path)[0]]
    return files_identity(paths, full_bytes=settings.DATASET_FULL_HASH_BYTES)


def public_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity without the server's folders (each file by its name): what a provenance
    record carries, since a downloaded file travels further than the portal's access rules."""
    return {
        "files": [
            {"name": f["path"].rsplit("/", 1)[-1], **{k: v for k, v in f.items() if k != "path"}}
            for f in identity.get("files", [])
        ]
    }


def same_content(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether two public identities name the same bytes: the same files by name, size and
    content hash (a modification time may differ: a touched file holds the same data)."""

    def content(identity: dict[str, Any]) -> list[tuple[Any, ...]]:
        files = identity.get("files") if isinstance(identity, dict) else None
        if not isinstance(files, list):
            return []
        return sorted(
            (f.get("name"), f.get("size"), f.get("sha256"), f.get("hash"))
            for f in files
            if isinstance(f, dict)
        )

    found = content(current)
    return bool(found) and content(recorded) == found
