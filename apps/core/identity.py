"""Which bytes a dataset is: per file its path, size, modification time and a content hash.

The identity is what a result cache and a provenance record name the data by. It is taken at
registration and checked at every job submission by ``stat`` alone (:func:`unchanged`): any
write through the file system (a ``touch``, an append, a rewrite) moves the modification time,
so a changed file gets a new identity, hashed anew.

The content hash is SHA-256 of the whole file while a dataset's files hashed whole stay under
``full_bytes`` together (the files of a typical scan: one HDF5 or MIB file, a sidecar and its
raw files); beyond that, a file's hash is a *sampled* one: SHA-256 over its size and
:data:`SAMPLE_BLOCKS` blocks of :data:`SAMPLE_BYTES` spread evenly from its first byte to its
last, a few MiB read whatever the size, so registering a 100 GiB scan does not read it all. A
sampled hash tells two files apart that differ in a sampled block, or in size; the stat check
does the rest. Ingested data are named by their sidecar, whose hash covers the SHA-256 of
every partition file that ingestion recorded in it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Any

#: Blocks a sampled hash reads, and their size.
SAMPLE_BLOCKS = 32
SAMPLE_BYTES = 64 * 1024
#: Bytes read per call when a file is hashed whole.
READ_BYTES = 4 * 2**20


def files_identity(paths: Iterable[str], *, full_bytes: int) -> dict[str, Any]:
    """``{"files": [{path, size, mtime_ns, sha256, hash}, ...]}`` for the files ``paths``
    (sorted, each once); ``hash`` says how ``sha256`` was taken: ``"full"`` or ``"sampled"``
    (see the module's notes). OSError if a file cannot be read."""
    files = []
    budget = full_bytes
    for path in sorted(set(paths)):
        st = os.stat(path)
        whole = st.st_size <= budget
        budget -= st.st_size if whole else 0
        digest = _full_hash(path) if whole else _sampled_hash(path, st.st_size)
        files.append(
            {
                "path": path,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": digest,
                "hash": "full" if whole else "sampled",
            }
        )
    return {"files": files}


def unchanged(identity: dict[str, Any]) -> bool:
    """Whether every file of ``identity`` still has its recorded size and modification time
    (False for an empty identity, and if a file is gone)."""
    files = identity.get("files") if isinstance(identity, dict) else None
    if not files:
        return False
    for entry in files:
        try:
            st = os.stat(entry["path"])
        except (OSError, KeyError, TypeError):
            return False
        if (st.st_size, st.st_mtime_ns) != (entry.get("size"), entry.get("mtime_ns")):
            return False
    return True


def _full_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _sampled_hash(path: str, size: int) -> str:
    digest = hashlib.sha256(f"sampled {size} {SAMPLE_BLOCKS} {SAMPLE_BYTES}\n".encode())
    last = max(0, size - SAMPLE_BYTES)
    with open(path, "rb") as f:
        for k in range(SAMPLE_BLOCKS):
            f.seek(last * k // (SAMPLE_BLOCKS - 1))
            digest.update(f.read(SAMPLE_BYTES))
    return digest.hexdigest()
