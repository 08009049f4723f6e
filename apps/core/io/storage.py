"""Node storage: the root folder (or storage URI) where a dask worker keeps its partitions.

A root is a local path, a ``file://`` URI, or another ``pyarrow.fs`` URI such as
``hdfs://namenode:8020/libertem`` (``pyarrow.fs.HadoopFileSystem``, which needs libhdfs and a
Java runtime on the node). Paths inside a root are relative (``ds-7/part-00000.raw``), so the
same sidecar works on every host: each worker resolves them against its own root.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from apps.core.errors import DataSetError

HASH_BLOCK = 8 * 2**20

LIBHDFS_HELP = (
    "HDFS is read through pyarrow.fs.HadoopFileSystem, which needs libhdfs and a Java runtime on "
    "this node: install Hadoop, set JAVA_HOME, HADOOP_HOME (or ARROW_LIBHDFS_DIR) and "
    "CLASSPATH=$(hadoop classpath --glob)"
)


class NodeStorage:
    """The storage root ``root`` of node ``node``; reads and writes files relative to it."""

    def __init__(self, node: str, root: str) -> None:
        if not isinstance(root, str) or not root:
            raise DataSetError(
                f"node {node}: the storage root must be a path or URI, got {root!r}."
            )
        self.node = node
        self.root = root
        url = urlparse(root)
        self.scheme = url.scheme if "://" in root else ""
        self.local = self.scheme in ("", "file")
        self.base = unquote(url.path) if self.scheme == "file" else root
        self._fs: Any = None

    def __repr__(self) -> str:
        return f"<NodeStorage {self.node} {self.root}>"

    def path(self, rel: str) -> str:
        """The absolute path (local) or filesystem path (pyarrow) of ``rel``."""
        if self.local:
            return str(Path(self.base) / rel)
        _, base = self._filesystem()
        return f"{base.rstrip('/')}/{rel}"

    def contains(self, rel: str) -> bool:
        """False if the local file ``rel`` resolves (through symlinks) outside this root.

        A remote (``pyarrow.fs``) root has no symlinks to follow: True.
        """
        if not self.local:
            return True
        real = Path(os.path.realpath(self.path(rel)))
        return real.is_relative_to(os.path.realpath(self.base))

    def where(self, rel: str) -> str:
        """How messages name the file ``rel`` on this node."""
        return f"{self.root.rstrip('/')}/{rel} on node {self.node}"

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            import pyarrow.fs

            try:
                self._fs = pyarrow.fs.FileSystem.from_uri(self.root)
            except OSError as exc:
                first = str(exc).strip().splitlines()[-1:] or [""]
                hint = LIBHDFS_HELP if self.scheme in ("hdfs", "viewfs") else "check the URI"
                raise DataSetError(
                    f"node {self.node}: cannot open the storage root {self.root}: {hint}. "
                    f"({type(exc).__name__}: {first[0]})"
                ) from exc
            except (ValueError, TypeError) as exc:
                raise DataSetError(
                    f"node {self.node}: {self.root} is not a storage root pyarrow.fs can open: {exc}"
                ) from exc
        return self._fs

    def size(self, rel: str) -> int | None:
        """Size in bytes of ``rel``, or None if it does not exist."""
        if self.local:
            try:
                return os.stat(self.path(rel)).st_size
            except FileNotFoundError:
                return None
        import pyarrow.fs

        fs, _ = self._filesystem()
        info = fs.get_file_info(self.path(rel))
        return None if info.type == pyarrow.fs.FileType.NotFound else int(info.size)

    def stamp(self, rel: str) -> tuple[int, int, int] | None:
        """``(size, mtime_ns, inode)`` of ``rel`` (inode 0 through pyarrow), or None."""
        if self.local:
            try:
                st = os.stat(self.path(rel))
            except FileNotFoundError:
                return None
            return st.st_size, st.st_mtime_ns, st.st_ino
        import pyarrow.fs

        fs, _ = self._filesystem()
        info = fs.get_file_info(self.path(rel))
        if info.type == pyarrow.fs.FileType.NotFound:
            return None
        return int(info.size), int(info.mtime_ns or 0), 0

    def read(self, rel: str, offset: int, nbytes: int) -> bytes:
        """``nbytes`` bytes of ``rel`` from ``offset`` (through pyarrow for URIs)."""
        if self.local:
            with open(self.path(rel), "rb") as f:
                f.seek(offset)
                return f.read(nbytes)
        fs, _ = self._filesystem()
        with fs.open_input_file(self.path(rel)) as f:
            return bytes(f.read_at(nbytes, offset))

    def sha256(self, rel: str) -> str:
        """The sha256 (hex) of the file ``rel``."""
        digest = hashlib.sha256()
        if self.local:
            with open(self.path(rel), "rb") as f:
                while block := f.read(HASH_BLOCK):
                    digest.update(block)
            return digest.hexdigest()
        fs, _ = self._filesystem()
        with fs.open_input_stream(self.path(rel)) as f:
            while block := f.read(HASH_BLOCK):
                digest.update(block)
        return digest.hexdigest()

    def remove(self, rel: str) -> bool:
        """Delete the file ``rel``; False if it did not exist."""
        if self.local:
            try:
                os.unlink(self.path(rel))
            except FileNotFoundError:
                return False
            return True
        if self.size(rel) is None:
            return False
        fs, _ = self._filesystem()
        fs.delete_file(self.path(rel))
        return True

    def write(self, rel: str, blocks: Iterable[bytes | memoryview]) -> str:
        """Write ``blocks`` to ``rel`` under a temporary name, then rename; returns the sha256.

        A crash leaves at most a ``.part-….tmp`` file, never a complete-looking partition.
        """
        digest = hashlib.sha256()
        tmp_rel = str(Path(rel).with_name(f".{Path(rel).name}.tmp"))
        if self.local:
            target = Path(self.path(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(self.path(tmp_rel))
            with open(tmp, "wb") as f:
                for block in blocks:
                    digest.update(block)
                    f.write(block)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            return digest.hexdigest()
        fs, _ = self._filesystem()
        fs.create_dir(str(Path(self.path(rel)).parent), recursive=True)
        with fs.open_output_stream(self.path(tmp_rel)) as f:
            for block in blocks:
                digest.update(block)
                f.write(block)
        fs.move(self.path(tmp_rel), self.path(rel))
        return digest.hexdigest()


def node_storages(roots: dict[str, str]) -> dict[str, NodeStorage]:
    """``{node: NodeStorage}`` for a ``DATA_NODES``-style mapping."""
    return {str(node): NodeStorage(str(node), str(root)) for node, root in roots.items()}
