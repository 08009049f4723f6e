"""Who may use which data folder, read from the database once per change, not once per job.

Every job opening its dataset checks the dataset's files against its owner's folders
(``apps.datasets.paths.read_scope``), and every file-browser request asks the same: the
declared folders, their groups and the groups' members. These rows change rarely, so each
process keeps them under the token of :class:`~apps.datasets.models.FolderAccessVersion` and
reads the token (one single-row query) each time instead of the three queries of the rows.
The receivers below give the token a new random value in the transaction of every change of
those rows, so the change and the new token commit together: the next job in any process (a
Celery worker, a web process's job thread) sees the token change and reads the rows again. A
folder's access revoked a moment ago is obeyed by the very next job.

Changes made past the ORM's signals (``QuerySet.update`` of ``is_staff``, raw SQL) must call
:func:`folder_access_changed` themselves.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, transaction

#: Who may use a folder: None for every signed-in user, else the ids of the groups it is
#: declared for (empty: staff only, as an undeclared folder).
Audience = frozenset[int] | None


@dataclass(frozen=True)
class FolderAudiences:
    """Every declared folder (resolved) with its audience, deepest first, the users (ids) of
    every group, and the staff's ids (staff use every folder: they widen no audience)."""

    declared: tuple[tuple[Path, Audience], ...] = ()
    members: dict[int, frozenset[int]] = field(default_factory=dict)
    staff: frozenset[int] = frozenset()

    def of(self, path: Path) -> Audience:
        """The audience of the resolved ``path``: its nearest declaration's (else staff only)."""
        for folder, audience in self.declared:
            if path.is_relative_to(folder):
                return audience
        return frozenset()

    def covers(self, target: Audience, holder: Audience) -> bool:
        """True if everyone who may use a folder open to ``holder`` may use one open to
        ``target``."""
        if target is None:
            return True
        if holder is None:
            return False
        return self._users(holder) <= self._users(target)

    def groups_of(self, user_id: int) -> frozenset[int]:
        """The ids of the groups ``user_id`` is a member of."""
        return frozenset(g for g, users in self.members.items() if user_id in users)

    def _users(self, groups: frozenset[int]) -> frozenset[int]:
        return frozenset().union(*(self.members.get(g, frozenset()) for g in groups)) - self.staff


@dataclass(frozen=True)
class _Rows:
    """The rows the audiences are made of, as read (folder paths not yet resolved)."""

    folders: tuple[tuple[str, Audience], ...]
    members: dict[int, frozenset[int]]
    staff: frozenset[int]


#: The rows last read in this process, under the token read before them.
_cached: tuple[str, _Rows] | None = None
_ROW = 1  # the primary key of the token's one row


def folder_audiences() -> FolderAudiences:
    """The folder audiences as committed now (or as this transaction changed them).

    The folders' paths are resolved on every call, as before the rows were kept: a symlink
    changed on disk is followed at once (a few ``lstat`` calls per folder).
    """
    rows = _current_rows()
    declared = [(Path(path).resolve(), audience) for path, audience in rows.folders]
    declared.sort(key=lambda item: len(item[0].parts), reverse=True)
    return FolderAudiences(declared=tuple(declared), members=rows.members, staff=rows.staff)


def _current_rows() -> _Rows:
    global _cached
    # The token first: rows read after it are at least as new as it says.
    token = _token()
    cached = _cached
    if token is not None and cached is not None and cached[0] == token:
        return cached[1]
    rows = _read_rows()
    if token is not None:
        _cached = (token, rows)  # one assignment: other threads see the old pair or the new
    return rows


def _token() -> str | None:
    from apps.datasets.models import FolderAccessVersion

    table = connection.ops.quote_name(FolderAccessVersion._meta.db_table)
    # A plain cursor: the ORM's query building would cost more than the query itself.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {table} WHERE id = %s", [_ROW])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def _read_rows() -> _Rows:
    from django.contrib.auth import get_user_model

    from apps.datasets.models import DataFolder

    user = get_user_model()
    members: dict[int, set[int]] = {}
    for group_id, user_id in user.groups.through.objects.values_list("group_id", "user_id"):
        members.setdefault(group_id, set()).add(user_id)
    staff = frozenset(user.objects.filter(is_staff=True).values_list("pk", flat=True))
    folders = tuple(
        (folder.path, None if folder.open_to_all else frozenset(g.pk for g in folder.groups.all()))
        for folder in DataFolder.objects.prefetch_related("groups")
    )
    return _Rows(
        folders=folders, members={g: frozenset(u) for g, u in members.items()}, staff=staff
    )


def folder_access_changed(**signal: Any) -> None:
    """A new token, in the caller's transaction (a receiver of every signal that changes who
    may use which folder)."""
    from apps.datasets.models import FolderAccessVersion

    token = secrets.token_hex(16)
    if FolderAccessVersion.objects.update(token=token):
        return
    try:
        with transaction.atomic():  # a savepoint: a concurrent first row must not end ours
            FolderAccessVersion.objects.create(pk=_ROW, token=token)
    except IntegrityError:
        FolderAccessVersion.objects.update(token=token)


def memberships_changed(*, action: str, **signal: Any) -> None:
    """Groups added to or removed from a folder or a user (sent before and after: once is
    enough)."""
    if action.startswith("post_"):
        folder_access_changed()


def user_changed(*, update_fields: Any = None, **signal: Any) -> None:
    """A user saved: staff status may have changed (a last-login update changes nothing)."""
    if update_fields is None or "is_staff" in update_fields:
        folder_access_changed()


def connect_receivers() -> None:
    """Connect :func:`folder_access_changed` to every change of the rows it depends on."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from apps.datasets.models import DataFolder

    user = get_user_model()
    for sender in (DataFolder, Group, user):
        post_delete.connect(folder_access_changed, sender=sender, dispatch_uid=f"access-{sender}")
    post_save.connect(folder_access_changed, sender=DataFolder, dispatch_uid="access-folder")
    post_save.connect(user_changed, sender=user, dispatch_uid="access-user")
    for through in (DataFolder.groups.through, user.groups.through):
        m2m_changed.connect(memberships_changed, sender=through, dispatch_uid=f"access-{through}")
