"""Partitions kept on nodes' own storage (written by ingestion, DESIGN sections 5 and 6).

A sidecar with ``"node_roots": {"node-a": "/srv/a", "node-b": "hdfs://nn:8020/lt"}`` lists,
per partition, a path relative to the storage root and the nodes holding a copy. The driver
never touches these files (they may live on other hosts); the worker that runs a partition
resolves the file against its own root, and refuses to read a partition it does not hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from apps.core.errors import DataSetError, ForbiddenReference
from apps.core.io.base import DataSet, Partition
from apps.core.io.mapped import MappedPartition
from apps.core.io.storage import NodeStorage

# (node, root, path, (size, mtime, inode)) -> sha256 of the file versions this process checked
_CHECKED: dict[tuple[Any, ...], str] = {}


class NodeRawPartition(MappedPartition):
    """A partition file ``rel`` kept in the storage root of each node in ``roots``.

    :meth:`locate` picks the copy on the node that runs it (a dask worker passes its name; in
    one process, the first node whose copy exists). Local roots are memory-mapped like any raw
    file; ``pyarrow.fs`` roots (``hdfs://``) are read tile by tile through pyarrow.
    """

    def __init__(self, *, rel: str, roots: dict[str, str], sha256: str | None, **kwargs: Any):
        super().__init__(path=rel, offset=0, **kwargs)
        self.rel = rel
        self.roots = dict(roots)
        self.sha256 = sha256
        self.located: str | None = None

    def locate(self, worker: str | None) -> None:
        if worker is not None:
            if worker not in self.roots:
                raise DataSetError(
                    f"{self.rel}: {self.label} is stored on node(s) {', '.join(self.roots)}, not "
                    f"on worker {worker}; partitions are never read over the network."
                )
            storage = NodeStorage(worker, self.roots[worker])
        else:
            # In one process (inline runs, a frame for the browser): on one machine every
            # node folder is visible; elsewhere this is not the place to read the partition.
            found = (s for n, r in self.roots.items() if (s := NodeStorage(n, r)).size(self.rel))
            local = next(found, None)
            if local is None:
                raise DataSetError(
                    f"{self.rel}: {self.label} is stored on node(s) {', '.join(self.roots)}, "
                    "and no copy is visible in this process; it is read by jobs on those nodes."
                )
            storage = local
        self.located = storage.node
        self.path = storage.path(self.rel) if storage.local else storage.where(self.rel)
        if storage.local:
            _check_inside_root(self, storage)
        self._storage = storage

    def read(self, start: int, stop: int) -> np.ndarray:
        storage: NodeStorage | None = self.__dict__.get("_storage")
        if storage is None:
            self.locate(None)
            storage = self._storage
        _check_once(self, storage)
        if storage.local:
            return super().read(start, stop)
        self._check_range(start, stop)
        row = self.frame_size * self.dtype.itemsize
        want = (stop - start) * row
        data = storage.read(self.rel, (start - self.start) * row, want)
        if len(data) != want:
            raise DataSetError(
                f"{self.path}: file is too short for {self.label}: read {len(data)} of {want} "
                "bytes. Was it truncated?"
            )
        return np.frombuffer(data, dtype=self.dtype).reshape(stop - start, self.frame_size)

    def tiles(
        self, *, tile_frames: int, roi: np.ndarray | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        # Every tile through read(), which finds the file on this node and checks its digest
        # first (no direct reads of cold files here).
        return Partition.tiles(self, tile_frames=tile_frames, roi=roi)

    def close(self) -> None:
        super().close()
        self.__dict__.pop("_storage", None)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.rel, "sha256": self.sha256}


def _check_inside_root(p: NodeRawPartition, storage: NodeStorage) -> None:
    # A symlink in node storage must not lead a partition out of it.
    if not storage.contains(p.rel):
        raise ForbiddenReference(
            f"{p.rel}: {p.label} on node {storage.node} leads to {p.path}, outside the node's "
            f"storage root {storage.root}; the portal reads only files inside it."
        )


def _check_once(p: NodeRawPartition, storage: NodeStorage) -> None:
    """Hash the file once per version (size, mtime, inode) and process before it is used.

    The first job after a change pays one extra read; a file edited in place or truncated is
    refused with a sentence naming it, instead of giving a wrong result.
    """
    if not p.sha256:
        return
    stamp = storage.stamp(p.rel)
    if stamp is None:
        raise DataSetError(f"{p.path}: {p.label} is missing on node {storage.node}.")
    key = (storage.node, storage.root, p.rel, stamp)
    if _CHECKED.get(key) == p.sha256:
        return
    if stamp[0] != p.nbytes:
        raise DataSetError(
            f"{p.path}: {p.label} on node {storage.node} has {stamp[0]} bytes, {p.nbytes} are "
            "expected: the file was truncated or overwritten; run manage.py verify."
        )
    found = storage.sha256(p.rel)
    if found != p.sha256:
        raise DataSetError(
            f"{p.path}: {p.label} on node {storage.node} is corrupt: its sha256 is {found}, "
            f"{p.sha256} was recorded at ingestion; run manage.py verify and ingest again."
        )
    _CHECKED[key] = found


def node_partition(seg: dict[str, Any], index: int, ds: DataSet) -> Partition:
    return NodeRawPartition(
        rel=seg["path"],
        roots=seg["roots"],
        sha256=seg.get("sha256"),
        nodes=seg["nodes"],
        **ds.frames(index, seg["start"], seg["stop"]),
    )


def sidecar_node_roots(
    doc: dict[str, Any], path: str, server_roots: Mapping[str, str] | None
) -> dict[str, str] | None:
    """The storage roots for a sidecar's node partitions: the server's, never the file's.

    The sidecar's own ``"node_roots"`` only marks its partitions as kept on node storage; a
    sidecar opened without ``server_roots`` (any sidecar a user wrote) may not have them.
    """
    if "node_roots" not in doc:
        return None
    if server_roots is None:
        raise ForbiddenReference(
            f'{path}: the sidecar places its partitions on node storage ("node_roots"); only '
            "sidecars written by this portal's ingestion may, and their storage roots come from "
            "the server's DATA_NODES. Point the partitions at files next to the sidecar instead."
        )
    return {str(node): str(root) for node, root in server_roots.items()}


def node_segment(
    entry: dict[str, Any], i: int, nodes: list[str], roots: dict[str, str], *, source: str
) -> dict[str, Any]:
    rel = entry["path"]
    if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in Path(rel).parts:
        raise DataSetError(
            f"{source}: partition {i} path must be relative to its node's storage root, "
            f"got {rel!r}."
        )
    unknown = [n for n in nodes if n not in roots]
    if not nodes or unknown:
        raise DataSetError(
            f"{source}: partition {i} must name nodes of this server's DATA_NODES "
            f"({', '.join(roots)}); got {nodes}."
        )
    return {
        "path": rel,
        "start": entry["start"],
        "stop": entry["stop"],
        "offset": 0,
        "nodes": nodes,
        "roots": {n: roots[n] for n in nodes},
        "sha256": entry.get("sha256"),
    }
