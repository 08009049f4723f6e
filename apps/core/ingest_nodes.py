"""Work on the data nodes' storage besides writing partitions: free space (for the
free-space-balanced placement) and removing the copies of a dataset.

Each runs as a task on its node (``workers=`` that node only), or in this process without a
dask client (all node roots are then visible here, as on one machine). A node that is not a
running worker is reported, never replaced by another.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.core.errors import CoreError
from apps.core.io.storage import NodeStorage


@dataclass(frozen=True)
class StoredCopy:
    """The file ``rel`` (relative to the node's storage root) of partition ``index`` on ``node``."""

    index: int
    node: str
    rel: str


def free_bytes(node: str, root: str) -> int:
    """Bytes free on the file system of ``node``'s storage root (a local path or file:// URI).

    The root need not exist yet: the nearest existing folder above it is measured.
    """
    storage = NodeStorage(node, root)
    if not storage.local:
        raise CoreError(
            f"node {node}: free-space placement measures local storage roots only; {root} is "
            "not one (choose round-robin placement)."
        )
    path = Path(storage.base)
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free)


def remove_copy(copy: StoredCopy, root: str) -> dict[str, Any]:
    """Delete one partition file, its checksum and an unfinished temporary file; then the
    dataset's folder on this node if it is left empty. ``{"index", "node", "rel", "removed"}``
    (``removed`` false: the file was already gone)."""
    storage = NodeStorage(copy.node, root)
    if not storage.contains(copy.rel):
        raise CoreError(f"{storage.where(copy.rel)} lies outside the node's storage root.")
    rel = Path(copy.rel)
    temporary = str(rel.with_name(f".{rel.name}.tmp"))
    removed = storage.remove(copy.rel)
    for extra in (copy.rel + ".sha256", temporary):
        storage.remove(extra)
    if storage.local and len(rel.parts) > 1:
        folder = Path(storage.path(str(rel.parent)))
        if folder.is_dir() and not any(folder.iterdir()):
            os.rmdir(folder)
    return {"index": copy.index, "node": copy.node, "rel": copy.rel, "removed": removed}


def on_nodes(
    fn: Callable[..., Any], items: list[tuple[str, tuple[Any, ...]]], client: Any
) -> list[tuple[Any, str]]:
    """Run ``fn(*args)`` for each ``(node, args)`` on that node; per item ``(value, "")`` or
    ``(None, why it failed)``, in the items' order. Never raises for one item's failure."""
    if client is None:
        return [_here(fn, args) for _, args in items]
    from apps.core.cluster import worker_names

    names = worker_names(client)
    futures: list[Any] = []
    for node, args in items:
        if node not in names:
            futures.append(
                f"node {node} is not a running dask worker "
                f"(running: {', '.join(sorted(names)) or 'none'})"
            )
            continue
        futures.append(
            client.submit(fn, *args, pure=False, workers=[names[node]], allow_other_workers=False)
        )
    return [_outcome(f) for f in futures]


def _here(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, str]:
    try:
        return fn(*args), ""
    except (CoreError, OSError) as exc:
        return None, str(exc)


def _outcome(future: Any) -> tuple[Any, str]:
    if isinstance(future, str):
        return None, future
    try:
        return future.result(), ""
    except Exception as exc:  # a killed worker, a permission denied, a full disk
        return None, f"{type(exc).__name__}: {exc}"


def sidecar_copies(doc: dict[str, Any]) -> list[StoredCopy]:
    """Every copy an ingested sidecar lists: each partition's file on each of its nodes."""
    return [
        StoredCopy(index, str(node), str(part["path"]))
        for index, part in enumerate(doc.get("partitions", []))
        for node in part.get("nodes", [])
    ]
