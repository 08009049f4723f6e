"""Declaring data folders: which folders inside ``DATA_ROOTS`` which users may use.

Staff declare folders in the admin or with ``manage.py datafolder``; ``apps.datasets.paths``
reads the declarations (``user_folders``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.datasets.models import DataFolder
from apps.datasets.paths import resolve_in_roots


def folder_clean_path(path: Any) -> str:
    """The resolved path of an existing folder inside ``DATA_ROOTS``, or ValidationError."""
    resolved = resolve_in_roots(path)
    if not resolved.exists():
        raise ValidationError({"path": f"{resolved} does not exist."})
    if not resolved.is_dir():
        raise ValidationError({"path": f"{resolved} is not a folder."})
    if len(str(resolved)) > DataFolder.PATH_MAX:
        raise ValidationError(
            {"path": f"The folder's path is longer than {DataFolder.PATH_MAX} characters."}
        )
    return str(resolved)


def folder_declare(
    *, path: Any, groups: Iterable[str] = (), open_to_all: bool = False
) -> tuple[DataFolder, bool]:
    """Declare ``path`` for the members of ``groups`` (or every signed-in user); idempotent.

    A declaration replaces the folder's previous one. Returns the row and whether it is new.
    """
    clean = folder_clean_path(path)
    wanted = set(groups)
    rows = list(Group.objects.filter(name__in=wanted))
    missing = sorted(wanted - {g.name for g in rows})
    if missing:
        raise ValidationError(
            {"groups": f"There is no group named {', '.join(repr(m) for m in missing)}."}
        )
    with transaction.atomic():
        folder, created = DataFolder.objects.update_or_create(
            path=clean, defaults={"open_to_all": open_to_all}
        )
        folder.groups.set(rows)
    return folder, created


def folder_remove(*, path: Any) -> tuple[str, bool]:
    """Remove the declaration of ``path`` (the files stay): its resolved path, and whether
    it was declared."""
    clean = str(resolve_in_roots(path))
    deleted, _ = DataFolder.objects.filter(path=clean).delete()
    return clean, bool(deleted)


def folder_json(folder: DataFolder) -> dict[str, Any]:
    return {
        "path": folder.path,
        "groups": sorted(g.name for g in folder.groups.all()),
        "open_to_all": folder.open_to_all,
    }
