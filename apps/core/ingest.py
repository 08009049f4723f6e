"""Ingestion: any readable dataset -> partitioned raw files on node storage + JSON sidecar.

Each partition is written by a task on the node that will hold it (``workers=`` that node),
under a temporary name and then renamed, with its sha256 recorded beside it
(``part-00000.raw.sha256``). The sidecar is written last. A re-run with the same plan keeps
every partition whose file still matches its recorded checksum, so an interrupted ingestion
finishes where it stopped. Without a dask client the tasks run in this process (all node roots
must then be visible here, as on one machine).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.core.errors import CoreError, JobCancelled
from apps.core.io import open_dataset
from apps.core.io.base import DEFAULT_TILE_BYTES, DataSet, partition_ranges, tile_frames_for
from apps.core.io.raw import write_sidecar
from apps.core.io.storage import NodeStorage

IngestProgress = Callable[[int, int], None]


class IngestError(CoreError):
    """Ingestion could not write or place a partition."""


@dataclass(frozen=True)
class PartitionCopy:
    """One copy of one partition: frames ``[start, stop)`` to ``rel`` on ``node``."""

    index: int
    start: int
    stop: int
    node: str
    rel: str


def placement(
    count: int,
    nodes: list[str],
    *,
    replicas: int = 1,
    free: dict[str, int] | None = None,
    nbytes: int = 0,
) -> list[list[str]]:
    """The nodes holding each of ``count`` partitions (``replicas`` distinct nodes each).

    Round robin, or with ``free`` (bytes free per node) the nodes with the most space left.
    """
    if not nodes:
        raise IngestError("ingestion needs at least one node (DATA_NODES is empty).")
    if not 1 <= replicas <= len(nodes):
        raise IngestError(
            f"replicas must be between 1 and the number of nodes ({len(nodes)}), got {replicas}."
        )
    if free is None:
        return [[nodes[(i + k) % len(nodes)] for k in range(replicas)] for i in range(count)]
    left = {n: int(free.get(n, 0)) for n in nodes}
    out = []
    for _ in range(count):
        chosen = sorted(nodes, key=lambda n: (-left[n], nodes.index(n)))[:replicas]
        for n in chosen:
            left[n] -= nbytes
        out.append(chosen)
    return out


def plan_folder(source: DataSet, partitions: int | None, prefix: str) -> str:
    """A folder name per source and partition count: a re-run of the plan reuses its files."""
    key = json.dumps([source.describe(), partitions], sort_keys=True).encode()
    return f"{prefix}-{hashlib.sha256(key).hexdigest()[:12]}"


def write_partition(source: dict[str, Any], copy: PartitionCopy, root: str) -> dict[str, Any]:
    """The task: write one copy from the source, or keep the file if its checksum holds.

    Returns ``{"index", "node", "sha256", "written", "nbytes", "seconds"}``.
    """
    t0 = time.perf_counter()
    # The driver checked the source's files: the task reads only those (a file swapped since,
    # for a link out of the data folders, is refused).
    ds = open_dataset(
        source["path"],
        format=source["format"],
        params=source["params"],
        pinned=source.get("pinned"),
    )
    storage = NodeStorage(copy.node, root)
    nbytes = (copy.stop - copy.start) * ds.frame_bytes
    kept = _intact(storage, copy.rel, nbytes)
    if kept is not None:
        sha, written = kept, False
    else:
        sha = storage.write(copy.rel, _blocks(ds, copy.start, copy.stop))
        storage.write(copy.rel + ".sha256", [sha.encode()])
        written = True
    return {
        "index": copy.index,
        "node": copy.node,
        "sha256": sha,
        "written": written,
        "nbytes": nbytes,
        "seconds": time.perf_counter() - t0,
    }


def _intact(storage: NodeStorage, rel: str, nbytes: int) -> str | None:
    """The recorded sha256 of ``rel`` if the file has ``nbytes`` bytes and still matches it."""
    if storage.size(rel) != nbytes or not storage.size(rel + ".sha256"):
        return None
    recorded = storage.read(rel + ".sha256", 0, 64).decode(errors="replace")
    return recorded if storage.sha256(rel) == recorded else None


def _blocks(ds: DataSet, start: int, stop: int) -> Any:
    """Frames ``[start, stop)`` of ``ds`` as C-order byte blocks of about a tile each."""
    step = tile_frames_for(ds.frame_bytes, tile_bytes=2 * DEFAULT_TILE_BYTES)
    for part in ds.partitions():
        lo, hi = max(start, part.start), min(stop, part.stop)
        try:
            for first in range(lo, hi, step):
                tile = part.read(first, min(first + step, hi))
                yield np.ascontiguousarray(tile).view(np.uint8).reshape(-1).data
        finally:
            part.close()


def ingest(
    source: DataSet,
    *,
    sidecar: str,
    roots: dict[str, str],
    folder: str,
    partitions: int | None = None,
    nodes: list[str] | None = None,
    replicas: int = 1,
    free: dict[str, int] | None = None,
    client: Any = None,
    on_progress: IngestProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Write ``source`` as partitions on the nodes' storage and the sidecar ``sidecar``.

    ``roots`` maps node names to storage roots; ``nodes`` (default: all) are the targets,
    ``folder`` the sub-folder of each root (see :func:`plan_folder`). With ``free`` (bytes free
    per node, :func:`apps.core.ingest_nodes.free_bytes`) each partition goes to the nodes with
    the most space left, else round robin (:func:`placement`). Returns the sidecar
    document plus what this run did: per partition the nodes it wrote now (``written``; the
    others were kept), and ``copies``: per copy ``index, node, sha256, written, nbytes,
    seconds``.
    """
    targets = list(nodes or roots)
    unknown = [n for n in targets if n not in roots]
    if unknown:
        raise IngestError(f"unknown node(s) {', '.join(unknown)}; known: {', '.join(roots)}.")
    ranges = partition_ranges(
        source.n_frames, source.frame_bytes, count=partitions, min_count=len(targets)
    )
    size = -(-source.n_frames // len(ranges)) * source.frame_bytes  # the largest partition
    held = placement(len(ranges), targets, replicas=replicas, free=free, nbytes=size)
    copies = [
        PartitionCopy(i, lo, hi, node, f"{folder}/part-{i:05d}.raw")
        for i, (lo, hi) in enumerate(ranges)
        for node in held[i]
    ]
    spec = {
        "path": source.path,
        "format": source.format,
        "params": source.params(),
        "pinned": source.pinned,
    }
    outcomes = _run(copies, spec, roots, client, on_progress, should_stop)
    doc = _sidecar_doc(source, ranges, held, outcomes, folder, {n: roots[n] for n in targets})
    parts = [{k: v for k, v in p.items() if k != "written"} for p in doc["partitions"]]
    write_sidecar(sidecar, {**doc, "partitions": parts})
    return {**doc, "copies": sorted(outcomes, key=lambda o: (o["index"], o["node"]))}


def _sidecar_doc(
    source: DataSet,
    ranges: list[tuple[int, int]],
    held: list[list[str]],
    outcomes: list[dict[str, Any]],
    folder: str,
    roots: dict[str, str],
) -> dict[str, Any]:
    parts = []
    for i, (lo, hi) in enumerate(ranges):
        mine = [o for o in outcomes if o["index"] == i]
        shas = {o["sha256"] for o in mine}
        if len(shas) != 1:
            raise IngestError(f"partition {i}: its copies on {held[i]} differ ({sorted(shas)}).")
        parts.append(
            {
                "path": f"{folder}/part-{i:05d}.raw",
                "start": lo,
                "stop": hi,
                "sha256": shas.pop(),
                "nodes": held[i],
                "written": sorted(o["node"] for o in mine if o["written"]),
            }
        )
    return {
        "dtype": source.dtype.str,
        "nav_shape": list(source.nav_shape),
        "sig_shape": list(source.sig_shape),
        "node_roots": roots,
        "partitions": parts,
        "source": {"path": source.path, "format": source.format, **source.params()},
        "metadata": {},
    }


def _run(
    copies: list[PartitionCopy],
    spec: dict[str, Any],
    roots: dict[str, str],
    client: Any,
    on_progress: IngestProgress | None,
    should_stop: Callable[[], bool] | None,
) -> list[dict[str, Any]]:
    total = sum(c.stop - c.start for c in copies)
    done = 0
    out = []
    if client is None:
        for c in copies:
            if should_stop is not None and should_stop():
                raise JobCancelled()
            out.append(_checked(write_partition, spec, c, roots[c.node]))
            done += c.stop - c.start
            if on_progress is not None:
                on_progress(done, total)
        return out
    from apps.core.ingest_dask import run_pinned

    return run_pinned(
        client,
        [(c, (write_partition, spec, c, roots[c.node])) for c in copies],
        on_progress=on_progress,
        should_stop=should_stop,
        what="write",
    )


def _checked(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    copy: PartitionCopy = args[1]
    try:
        return fn(*args)
    except CoreError:
        raise
    except OSError as exc:
        raise IngestError(
            f"partition {copy.index} on node {copy.node}: cannot write {copy.rel}: {exc}"
        ) from exc
