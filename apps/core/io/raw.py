"""Raw binary frames in C order: headerless files and the libertem-raw JSON sidecar.

Two sidecar forms (DESIGN section 5): one existing raw file (``"path"`` + ``"offset"``), or
partition files (``"partitions"``), each covering frames ``[start, stop)``. Partition paths
are relative to the sidecar's folder (or ``file://`` URIs), or, when the sidecar has
``"node_roots": {"node-a": "/srv/a", ...}`` (written by ingestion), relative to the storage root
of the nodes listed in the partition's ``"nodes"``: such a file is found on the worker that
runs the partition (:meth:`NodeRawPartition.locate`), never read from another node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.base import (
    DEFAULT_PARTITION_BYTES,
    DataSet,
    Partition,
    check_dtype,
    check_shape,
    partition_ranges,
)
from apps.core.io.mapped import MappedPartition
from apps.core.io.noderaw import node_partition, node_segment, sidecar_node_roots
from apps.core.io.references import AllowedFiles, Reference, check_files

SIDECAR_FORMAT = "libertem-raw"
SIDECAR_VERSION = 1


class RawDataSet(DataSet):
    """Raw frames in one or more files (``segments``: ``path, start, stop, offset, nodes``)."""

    format = "raw"

    def __init__(
        self,
        *,
        path: str,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        dtype: Any,
        segments: list[dict[str, Any]],
        sidecar: bool,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path=path, nav_shape=nav_shape, sig_shape=sig_shape, dtype=dtype)
        self.segments = segments
        self.sidecar = sidecar
        self.extra = extra or {}
        self._check_segments()

    @classmethod
    def open(cls, path: str, **params: Any) -> RawDataSet:
        """Open a sidecar ``.json``, or a headerless raw file described by ``params``."""
        if str(path).endswith(".json"):
            if params:
                raise DataSetError(f"{path}: a sidecar describes itself; no parameters are taken.")
            return cls.from_sidecar(path)
        unknown = set(params) - {"nav_shape", "sig_shape", "dtype", "offset"}
        if unknown:
            raise DataSetError(f"{path}: unknown raw parameters {sorted(unknown)}.")
        missing = [k for k in ("nav_shape", "sig_shape", "dtype") if k not in params]
        if missing:
            raise DataSetError(
                f"{path}: a headerless raw file needs {', '.join(missing)} (or a JSON sidecar)."
            )
        offset = _offset(params.get("offset", 0), source=str(path))
        nav = check_shape(params["nav_shape"], name="nav_shape", source=str(path))
        n = int(np.prod(nav))
        return cls(
            path=str(path),
            nav_shape=nav,
            sig_shape=params["sig_shape"],
            dtype=params["dtype"],
            segments=[{"path": str(path), "start": 0, "stop": n, "offset": offset, "nodes": []}],
            sidecar=False,
        )

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The raw file, or the sidecar and every partition file it names (relative to its
        folder or ``file://``). Partitions on node storage are checked by the node reading
        them (:meth:`NodeRawPartition.locate`), against its storage root."""
        refs = check_files([Reference(path)], allowed)
        if not str(path).endswith(".json"):
            return refs
        doc = _load_sidecar(path)
        if "node_roots" in doc:
            return refs
        nav = check_shape(doc.get("nav_shape"), name="nav_shape", source=path)
        segments = _segments(doc, path, int(np.prod(nav)), roots=None)
        named = [
            Reference(seg["path"], path, f"partition {i} (frames {seg['start']}-{seg['stop'] - 1})")
            for i, seg in enumerate(segments)
        ]
        return check_files(refs + named, allowed)

    @classmethod
    def from_sidecar(cls, path: str, *, node_roots: Mapping[str, str] | None = None) -> RawDataSet:
        """Open a sidecar; ``node_roots`` (the server's ``DATA_NODES``) are the storage roots of
        partitions on node storage, which only a sidecar written by ingestion may have."""
        doc = _load_sidecar(path)
        nav = check_shape(doc.get("nav_shape"), name="nav_shape", source=path)
        roots = sidecar_node_roots(doc, path, node_roots)
        segments = _segments(doc, path, int(np.prod(nav)), roots=roots)
        sig = check_shape(doc.get("sig_shape"), name="sig_shape", source=path, ndim=2)
        extra: dict[str, Any] = {
            k: doc[k] for k in ("source", "metadata", "node_roots") if k in doc
        }
        return cls(
            path=str(path),
            nav_shape=nav,
            sig_shape=sig,
            dtype=doc.get("dtype"),
            segments=segments,
            sidecar=True,
            extra=extra,
        )

    def params(self) -> dict[str, Any]:
        if self.sidecar:
            return {}
        return {
            "nav_shape": list(self.nav_shape),
            "sig_shape": list(self.sig_shape),
            "dtype": self.dtype.str,
            "offset": self.segments[0]["offset"],
        }

    def _check_segments(self) -> None:
        expected = 0
        for seg in sorted(self.segments, key=lambda s: s["start"]):
            if seg["start"] != expected:
                kind = "a gap" if seg["start"] > expected else "an overlap"
                raise DataSetError(
                    f"{self.path}: partitions must cover frames 0-{self.n_frames - 1} without gaps "
                    f"or overlap; {seg['path']} starts at frame {seg['start']}, expected "
                    f"{expected} ({kind})."
                )
            expected = seg["stop"]
            if seg.get("roots"):
                continue  # on the nodes' storage: checked where it is read
            need = seg["offset"] + (seg["stop"] - seg["start"]) * self.frame_bytes
            _check_size(seg["path"], need, self)
        if expected != self.n_frames:
            raise DataSetError(
                f"{self.path}: partitions cover {expected} frames, but nav_shape "
                f"{list(self.nav_shape)} has {self.n_frames}."
            )

    def partitions(
        self,
        *,
        count: int | None = None,
        target_bytes: int = DEFAULT_PARTITION_BYTES,
        min_count: int = 1,
    ) -> list[Partition]:
        parts: list[Partition] = []
        segments = sorted(self.segments, key=lambda s: s["start"])
        single = len(segments) == 1
        for seg in segments:
            n_seg = seg["stop"] - seg["start"]
            ranges = partition_ranges(
                n_seg,
                self.frame_bytes,
                count=count if single else None,
                target_bytes=target_bytes,
                min_count=min_count if single else 1,
            )
            if seg.get("roots"):
                parts.append(node_partition(seg, len(parts), self))
                continue
            for lo, hi in ranges:
                part = MappedPartition(
                    path=seg["path"],
                    offset=seg["offset"] + lo * self.frame_bytes,
                    nodes=seg.get("nodes", ()),
                    **self.frames(len(parts), seg["start"] + lo, seg["start"] + hi),
                )
                parts.append(part.pin(self.pinned))
        return parts


def _segments(
    doc: dict[str, Any], path: str, n: int, *, roots: dict[str, str] | None
) -> list[dict[str, Any]]:
    """The sidecar's frame ranges and their files (paths relative to the sidecar's folder)."""
    base = Path(path).resolve().parent
    if "partitions" in doc:
        return [
            _segment(p, i, base, source=path, roots=roots) for i, p in enumerate(_list(doc, path))
        ]
    if "path" in doc:
        return [
            {
                "path": _resolve(doc["path"], base, source=path),
                "start": 0,
                "stop": n,
                "offset": _offset(doc.get("offset", 0), source=path),
                "nodes": [],
            }
        ]
    raise DataSetError(f'{path}: the sidecar needs either "path" or "partitions".')


def _check_size(path: str, need: int, ds: DataSet) -> None:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the data file: {exc.strerror}.") from exc
    if size != need:
        raise DataSetError(
            f"{path}: file has {size} bytes, but {need} were expected for its frames of "
            f"{list(ds.sig_shape)} {ds.dtype.name} ({ds.dtype.str}) pixels. Check nav_shape, "
            "sig_shape, dtype and offset."
        )


def _load_sidecar(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the sidecar: {exc.strerror}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataSetError(f"{path}: the sidecar is not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
        raise DataSetError(
            f'{path}: not a libertem-raw sidecar ("format" must be "{SIDECAR_FORMAT}").'
        )
    if doc.get("version") != SIDECAR_VERSION:
        raise DataSetError(
            f"{path}: sidecar version {doc.get('version')!r} is not supported; expected 1."
        )
    check_dtype(doc.get("dtype"), source=path)
    return doc


def _list(doc: dict[str, Any], path: str) -> list[Any]:
    parts = doc["partitions"]
    if not isinstance(parts, list) or not parts:
        raise DataSetError(f'{path}: "partitions" must be a non-empty list.')
    return parts


def _segment(
    entry: Any, i: int, base: Path, *, source: str, roots: dict[str, str] | None = None
) -> dict[str, Any]:
    if not isinstance(entry, dict) or not {"path", "start", "stop"} <= entry.keys():
        raise DataSetError(f'{source}: partition {i} needs "path", "start" and "stop".')
    start, stop = entry["start"], entry["stop"]
    if not (_is_int(start) and _is_int(stop) and 0 <= start < stop):
        raise DataSetError(
            f"{source}: partition {i} must have integers 0 <= start < stop, got {start!r}, {stop!r}."
        )
    nodes = entry.get("nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(x, str) for x in nodes):
        raise DataSetError(f'{source}: partition {i} "nodes" must be a list of worker names.')
    if roots is not None:
        return node_segment(entry, i, nodes, roots, source=source)
    return {
        "path": _resolve(entry["path"], base, source=source),
        "start": start,
        "stop": stop,
        "offset": 0,
        "nodes": nodes,
        "sha256": entry.get("sha256"),
    }


def _resolve(name: Any, base: Path, *, source: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise DataSetError(f"{source}: a partition path must be a non-empty string.")
    if "://" in name:
        url = urlparse(name)
        if url.scheme != "file":
            raise DataSetError(
                f"{source}: storage URI scheme {url.scheme!r} is not readable here; use a path "
                "relative to the sidecar or a file:// URI."
            )
        return unquote(url.path)
    # Resolved: the catalogue stores real paths (the portal compares them between datasets).
    return str((base / name).resolve())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _offset(value: Any, *, source: str) -> int:
    if not _is_int(value) or value < 0:
        raise DataSetError(f"{source}: offset must be a non-negative integer, got {value!r}.")
    return value


def write_sidecar(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """Write a sidecar atomically: temporary name, fsync, rename (DESIGN section 5)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, **doc}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
