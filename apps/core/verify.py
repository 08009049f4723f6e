"""Verification: re-hash every copy of every partition on the node that holds it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.core.ingest import PartitionCopy
from apps.core.io.noderaw import NodeRawPartition
from apps.core.io.raw import RawDataSet
from apps.core.io.storage import NodeStorage


def check_copy(copy: PartitionCopy, root: str, nbytes: int, sha256: str | None) -> dict[str, Any]:
    """The task: ``{"index", "node", "path", "status", "detail"}``, status ok, missing,
    truncated (wrong size), corrupt (wrong sha256) or outside (a symlink out of the root)."""
    storage = NodeStorage(copy.node, root)
    record = {"index": copy.index, "node": copy.node, "path": storage.where(copy.rel)}
    if not storage.contains(copy.rel):
        return {**record, "status": "outside", "detail": "a symlink leads out of the storage root"}
    size = storage.size(copy.rel)
    if size is None:
        return {**record, "status": "missing", "detail": "the file does not exist"}
    if size != nbytes:
        return {**record, "status": "truncated", "detail": f"{size} bytes, {nbytes} expected"}
    found = storage.sha256(copy.rel)
    if sha256 and found != sha256:
        return {**record, "status": "corrupt", "detail": f"sha256 {found}, {sha256} expected"}
    return {**record, "status": "ok", "detail": ""}


def verify(
    sidecar: str, *, node_roots: Mapping[str, str], client: Any = None
) -> list[dict[str, Any]]:
    """Check every copy listed in ``sidecar``, on the storage roots ``node_roots`` (the
    server's ``DATA_NODES``); copies on nodes that are down are reported with status
    ``node down``. Without ``client`` the checks run in this process."""
    ds = RawDataSet.from_sidecar(sidecar, node_roots=node_roots)
    items: list[tuple[PartitionCopy, tuple[Any, ...]]] = []
    for p in ds.partitions():
        if not isinstance(p, NodeRawPartition):
            continue
        for node, root in p.roots.items():
            copy = PartitionCopy(p.index, p.start, p.stop, node, p.rel)
            items.append((copy, (check_copy, copy, root, p.nbytes, p.sha256)))
    if client is None:
        return [check_copy(*args) for _, (_, *args) in items]
    from apps.core.cluster import worker_names
    from apps.core.ingest_dask import run_pinned

    up = worker_names(client)
    down = [
        {"index": c.index, "node": c.node, "path": c.rel, "status": "node down", "detail": ""}
        for c, _ in items
        if c.node not in up
    ]
    found = run_pinned(client, [i for i in items if i[0].node in up], what="verify")
    return sorted(found + down, key=lambda r: (r["index"], r["node"]))
