"""Path safety: the file browser and registration only see files inside ``DATA_ROOTS``,
and of those only the data folders the user may use.

Every user-given path is resolved to its real path (``..`` and symlinks followed) and must then
lie inside one of the resolved roots. Comparing resolved paths with ``is_relative_to`` (not
string prefixes) refuses ``/data-evil`` next to ``/data``. Inside the roots, ``user_folders``
says which folders a user may use: staff all of them, others the declared ``DataFolder`` rows
open to them (the nearest declaration above a path decides; undeclared means staff only).

What a registered file may refer to (HDF5 links, sidecar partitions, ...) is checked by the
Core against :func:`read_scope`: for anything a user wrote, the owner's data folders, and of
those only folders open to at least everyone the dataset's own folder is open to
(:class:`OwnerFiles`); the ingest root and the nodes' storage (``DATA_NODES``) for sidecars
written by ingestion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.errors import DataSetError
from apps.core.io import FORMATS, sniff_format
from apps.core.io.h5path import EXTENSIONS as HDF5_EXTENSIONS
from apps.core.io.references import AllowedFiles, InFolders
from apps.datasets.audiences import Audience, FolderAudiences, folder_audiences
from apps.web.apidoc import array, nullable, obj

MAX_PATH_LENGTH = 4096
MAX_NAME_BYTES = 255  # NAME_MAX of Linux file systems
MAX_ENTRIES = 2000


def data_roots() -> list[Path]:
    # Resolved again: tests and admins may set roots through symlinked folders.
    return [Path(root).resolve() for root in settings.DATA_ROOTS]


@dataclass(frozen=True)
class Bounds:
    """``DATA_ROOTS`` and the folders the portal writes (``in_portal_storage``), resolved once
    for the checks of one request or one opening (a few ``lstat`` calls per folder and check
    were most of a job's file check)."""

    roots: tuple[Path, ...]
    portal: tuple[Path, ...]

    @classmethod
    def now(cls) -> Bounds:
        return cls(roots=tuple(data_roots()), portal=tuple(_portal_storage()))

    def contain(self, path: Path) -> bool:
        """True if the resolved ``path`` lies in a data root and not in the portal's storage."""
        in_roots = any(path.is_relative_to(root) for root in self.roots)
        return in_roots and not any(path.is_relative_to(f) for f in self.portal)


@dataclass(frozen=True)
class UserFolders:
    """The data folders one user may use; ask ``allows(resolved_path)``.

    ``declared`` holds every declared folder (resolved) with whether this user may use it,
    deepest first, so the nearest declaration above a path is found first.
    """

    declared: tuple[tuple[Path, bool], ...] = ()
    everything: bool = False
    bounds: Bounds = field(default_factory=Bounds.now)

    def allows(self, path: Path) -> bool:
        """True if the resolved ``path`` lies in a data folder this user may use."""
        if not self.bounds.contain(path):
            return False
        if self.everything:
            return True
        for folder, usable in self.declared:
            if path.is_relative_to(folder):
                return usable
        return False

    def tops(self) -> list[Path]:
        """The usable folders whose parent is not usable: where browsing starts."""
        if self.everything:
            return list(self.bounds.roots)
        roots = self.bounds.roots
        usable = [f for f, ok in self.declared if ok and any(f.is_relative_to(r) for r in roots)]
        return sorted(f for f in usable if not self.allows(f.parent))


def user_folders(user: Any) -> UserFolders:
    """The data folders ``user`` may browse and register from (and a dataset's files may name).

    Staff may use everything inside ``DATA_ROOTS``; anonymous users nothing.
    """
    if user is None or not user.is_authenticated:
        return UserFolders()
    if user.is_staff:
        return UserFolders(everything=True)
    return _folders_of(user, folder_audiences())


def _folders_of(user: Any, audiences: FolderAudiences) -> UserFolders:
    if user.is_staff:
        return UserFolders(everything=True)
    mine = audiences.groups_of(user.pk)
    declared = tuple(
        (folder, audience is None or bool(audience & mine))
        for folder, audience in audiences.declared
    )
    return UserFolders(declared=declared)


@dataclass(frozen=True)
class OwnerFiles:
    """The files a dataset of ``owner`` may read: in the owner's data folders, and only in
    folders open to at least everyone who may use the folder of the dataset's own file.

    The dataset's file is written by whoever may write into its folder (every lab member, for
    a lab folder), not only by its owner: a link it holds must not lend them the owner's reach
    (a lab member rewriting the owner's shared file to link into the owner's private folder,
    or into a staff folder for a staff member's dataset). Whoever could have written the link
    could also read its target.
    """

    owner: UserFolders
    audiences: FolderAudiences
    audience: Audience  # of the dataset's own folder

    def allows(self, path: Path) -> bool:
        if not self.owner.allows(path):
            return False
        return self.audiences.covers(self.audiences.of(path), self.audience)


def owner_files(path: str | Path, owner: Any) -> OwnerFiles:
    """:class:`OwnerFiles` for the dataset stored at ``path`` (``file.h5:/inner`` allowed)."""
    audiences = folder_audiences()
    own = Path(split_inner(str(path))[0]).resolve()
    return OwnerFiles(
        owner=_folders_of(owner, audiences), audiences=audiences, audience=audiences.of(own)
    )


def resolve_for(user: Any, path: str, *, field: str = "path") -> Path:
    """``resolve_in_roots(path)``, refused unless ``user`` may use the folder it lies in.

    The message is the same whether or not the path exists: it does not reveal other folders.
    """
    resolved = resolve_in_roots(path)
    if not user_folders(user).allows(resolved):
        raise ValidationError(
            {
                field: f"The path {_shown(path)} is not in a data folder you may use; "
                "ask the facility staff to open its folder to one of your groups."
            }
        )
    return resolved


def _shown(path: str) -> str:
    """A user path as quoted in messages: bounded, so a huge path does not flood the page."""
    return repr(path if len(path) <= 200 else path[:200] + "…")


def split_inner(path: str) -> tuple[str, str | None]:
    """Split HDF5 ``file.h5:/inner/path`` into the file part and the inner path."""
    head, sep, tail = path.rpartition(":/")
    if sep and head.lower().endswith(HDF5_EXTENSIONS):
        return head, "/" + tail
    return path, None


def root_of(path: Path) -> Path | None:
    """The data root containing the resolved ``path``, or None."""
    return next((root for root in data_roots() if path.is_relative_to(root)), None)


def resolve_in_roots(path: str) -> Path:
    """The real path of ``path`` (a file part only, for HDF5 ``file.h5:/inner``), or refuse.

    Relative paths are relative to the first data root. Raises ValidationError({"path": ...}).
    """
    if not isinstance(path, str) or not path.strip():
        raise ValidationError({"path": "Give a path inside the data folders."})
    if len(path) > MAX_PATH_LENGTH:
        raise ValidationError(
            {
                "path": f"The path {_shown(path)} is {len(path)} characters long; "
                f"at most {MAX_PATH_LENGTH} are allowed."
            }
        )
    if "\x00" in path:
        raise ValidationError({"path": f"The path {_shown(path)} contains a NUL byte."})
    file_part, _ = split_inner(path.strip())
    _check_names(path, file_part)
    roots = data_roots()
    if not roots:
        raise ValidationError({"path": "No data folders are configured (DATA_ROOTS is empty)."})
    try:
        # resolve() follows every symlink, so a link leading out is judged by its target.
        resolved = (roots[0] / file_part).resolve()
    except (OSError, RuntimeError, ValueError):
        raise ValidationError({"path": f"The path {_shown(path)} cannot be resolved."}) from None
    if root_of(resolved) is None:
        raise ValidationError(
            {
                "path": f"The path {_shown(path)} is outside the data folders "
                f"({', '.join(str(r) for r in roots)})."
            }
        )
    return resolved


def _check_names(path: str, file_part: str) -> None:
    # The file system refuses longer names (ENAMETOOLONG) on every call that touches the path.
    for name in Path(file_part).parts:
        if len(os.fsencode(name)) > MAX_NAME_BYTES:
            raise ValidationError(
                {
                    "path": f"The path {_shown(path)} has a folder or file name of "
                    f"{len(os.fsencode(name))} bytes; at most {MAX_NAME_BYTES} are allowed."
                }
            )


def in_portal_storage(path: Path) -> bool:
    """True for a resolved ``path`` in a folder the portal writes: ``INGEST_ROOT`` (whose
    sidecars are trusted to read node storage) or a node's local storage (``DATA_NODES``, every
    user's ingested data). Never a data folder, even where one contains it."""
    return any(path.is_relative_to(folder) for folder in _portal_storage())


def _portal_storage() -> list[Path]:
    folders = [ingest_root()]
    for root in settings.DATA_NODES.values():
        url = urlparse(str(root))
        if "://" not in str(root) or url.scheme == "file":
            folders.append(Path(unquote(url.path) if url.scheme else str(root)).resolve())
    return folders


def ingest_root() -> Path:
    return Path(settings.INGEST_ROOT).resolve()


def in_ingest_root(path: str | Path) -> bool:
    """True for a sidecar written by ingestion (it lies in ``INGEST_ROOT``)."""
    return Path(path).resolve().is_relative_to(ingest_root())


@dataclass(frozen=True)
class ReadScope:
    """What the files of one dataset may be (``allowed.allows(real_path)``), and the node
    storage roots its partitions may use."""

    allowed: AllowedFiles
    node_roots: dict[str, str] | None


def read_scope(path: str, owner: Any) -> ReadScope:
    """The scope for opening the dataset stored at ``path`` (a catalogue row's path).

    A sidecar written by ingestion reads partitions on the nodes' storage, whose roots come
    from ``DATA_NODES``; every other file is its owner's, and may refer only to the data
    folders the owner may use that are open to at least its own folder's users
    (:class:`OwnerFiles`; not to node storage, which holds every user's ingested data).
    """
    nodes = node_roots_for(path)
    if nodes is not None:
        return ReadScope(allowed=InFolders((ingest_root(),)), node_roots=nodes)
    return ReadScope(allowed=owner_files(path, owner), node_roots=None)


def node_roots_for(path: str) -> dict[str, str] | None:
    """``DATA_NODES`` for a sidecar written by ingestion (in ``INGEST_ROOT``), else None: node
    storage roots never come from a file a user wrote."""
    if not in_ingest_root(path):
        return None
    return {str(node): str(root) for node, root in settings.DATA_NODES.items()}


_PATH_OR_NULL = nullable({"type": "string"})
#: The JSON of :func:`browse`.
BROWSE = obj(
    "Folder",
    path=_PATH_OR_NULL | {"description": "Null when listing the top folders."},
    parent=_PATH_OR_NULL | {"description": "Null at a top folder."},
    root=_PATH_OR_NULL,
    entries=array(
        obj(
            "FolderEntry",
            name={"type": "string"},
            path={"type": "string", "description": "Absolute; POST /api/datasets/ takes it."},
            kind={"type": "string", "enum": ["dir", "file"]},
            size=nullable({"type": "integer", "minimum": 0}),
            format=nullable({"type": "string", "enum": list(FORMATS)})
            | {"description": "A cheap guess from the first bytes, for files."},
        ),
        maxItems=MAX_ENTRIES,
    ),
    truncated={"type": "boolean", "description": f"More than {MAX_ENTRIES} entries."},
)


def browse(user: Any, path: str | None = None) -> dict[str, Any]:
    """List one folder ``user`` may use; without ``path``, the top folders they may use.

    Returns ``{"path", "parent", "root", "entries": [{name, path, kind, size, format}]}``; entry
    paths are absolute and accepted as they are by registration. ``parent`` is None at a top.
    """
    folders = user_folders(user)
    if not path:
        entries = [_entry(top, str(top), kind="dir") for top in folders.tops()]
        return {"path": None, "parent": None, "root": None, "entries": entries, "truncated": False}
    folder = resolve_for(user, path)
    if not _is_dir(folder):
        raise ValidationError({"path": f"{_shown(path)} is not a folder."})
    root = root_of(folder)
    entries, truncated = _list(folder, folders)
    parent = str(folder.parent) if folder != root and folders.allows(folder.parent) else None
    return {
        "path": str(folder),
        "parent": parent,
        "root": str(root),
        "entries": entries,
        "truncated": truncated,
    }


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError as exc:  # no permission to look, say
        raise ValidationError({"path": f"{path}: cannot be read: {exc.strerror}."}) from None


def _list(folder: Path, folders: UserFolders) -> tuple[list[dict[str, Any]], bool]:
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ValidationError(
            {"path": f"{folder}: cannot list the folder: {exc.strerror}."}
        ) from None
    entries = []
    for name in names:
        if name.startswith("."):
            continue  # hidden files, and half-written sidecars (".name.tmp")
        entry = _child(folder / name, folders)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: (e["kind"] != "dir", e["name"].lower()))
    return entries[:MAX_ENTRIES], len(entries) > MAX_ENTRIES


def _child(path: Path, folders: UserFolders) -> dict[str, Any] | None:
    try:
        real = path.resolve()
        is_dir = real.is_dir()
    except (OSError, RuntimeError):
        return None
    if not folders.allows(real):
        # A symlink leading out of the roots, or a folder declared for other groups: not shown.
        return None
    if is_dir:
        return _entry(path, path.name, kind="dir")
    if not real.is_file():
        return None  # sockets, fifos, dangling links
    return _entry(path, path.name, kind="file")


def _entry(path: Path, name: str, *, kind: str) -> dict[str, Any]:
    size = None
    fmt = None
    if kind == "file":
        try:
            size = path.stat().st_size
        except OSError:
            size = None
        fmt = guess_format(path)
    return {"name": name, "path": str(path), "kind": kind, "size": size, "format": fmt}


def guess_format(path: Path) -> str | None:
    """The Core's cheap format guess (a few header bytes), or None for anything else."""
    try:
        return sniff_format(str(path))
    except (DataSetError, OSError, ValueError):
        return None
