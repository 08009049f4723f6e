"""Path safety: the file browser and registration only see files inside ``DATA_ROOTS``.

Every user-given path is resolved to its real path (``..`` and symlinks followed) and must then
lie inside one of the resolved roots. Comparing resolved paths with ``is_relative_to`` (not
string prefixes) refuses ``/data-evil`` next to ``/data``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.errors import DataSetError
from apps.core.io import sniff_format
from apps.core.io.hdf5 import EXTENSIONS as HDF5_EXTENSIONS

MAX_PATH_LENGTH = 4096
MAX_ENTRIES = 2000


def data_roots() -> list[Path]:
    # Resolved again: tests and admins may set roots through symlinked folders.
    return [Path(root).resolve() for root in settings.DATA_ROOTS]


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


def in_storage(path: str | Path) -> bool:
    """True if ``path`` resolves inside a data root or a node's storage root (DATA_NODES)."""
    resolved = Path(path).resolve()
    storage = [Path(p).resolve() for p in settings.DATA_NODES.values()]
    return root_of(resolved) is not None or any(resolved.is_relative_to(s) for s in storage)


def browse(path: str | None = None) -> dict[str, Any]:
    """List one folder inside the data roots; without ``path``, the roots themselves.

    Returns ``{"path", "parent", "root", "entries": [{name, path, kind, size, format}]}``; entry
    paths are absolute and accepted as they are by registration. ``parent`` is None at a root.
    """
    if not path:
        entries = [_entry(root, str(root), kind="dir") for root in data_roots()]
        return {"path": None, "parent": None, "root": None, "entries": entries, "truncated": False}
    folder = resolve_in_roots(path)
    if not folder.is_dir():
        raise ValidationError({"path": f"{_shown(path)} is not a folder."})
    root = root_of(folder)
    entries, truncated = _list(folder)
    parent = str(folder.parent) if folder != root else None
    return {
        "path": str(folder),
        "parent": parent,
        "root": str(root),
        "entries": entries,
        "truncated": truncated,
    }


def _list(folder: Path) -> tuple[list[dict[str, Any]], bool]:
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
        entry = _child(folder / name)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: (e["kind"] != "dir", e["name"].lower()))
    return entries[:MAX_ENTRIES], len(entries) > MAX_ENTRIES


def _child(path: Path) -> dict[str, Any] | None:
    try:
        real = path.resolve()
        is_dir = real.is_dir()
    except (OSError, RuntimeError):
        return None
    if root_of(real) is None:
        return None  # a symlink leading out of the roots is not shown at all
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
