"""Memory maps of data files, one per file and process, kept from one run to the next.

Mapping a file is cheap; touching its pages the first time is not: each page-cached 64 KiB
costs a page fault, and the faults take about half the time of a float32 sum over the file
(docs/performance.md). Scientists analyse the same dataset again and again, and dask workers
and the web process live long, so the readers slice one mapping per file that stays open
between runs; a second analysis of a file finds its pages mapped already.

A mapping is replaced when its file changes (another inode, size or modification time). Past
:data:`MAX_FILES` files or :data:`MAX_BYTES` mapped bytes the least recently used mappings are
dropped; a mapping lives on while an array still views it. A map keeps its file's disk space
in use after the file is deleted, so every :data:`SWEEP_SECONDS` the maps of files that were
deleted or replaced are dropped.

The pages of a mapping that were read count in the process's resident size (not in its
anonymous memory, but dask cannot tell them apart): a dask worker past 80 % of its memory limit
is paused, past 95 % restarted, whatever the file it read. So readers report the bytes they are
done with (:func:`release`, after every tile) and at most :data:`RESIDENT_BYTES` of them stay
mapped in, the most recently read; older ones are advised away (``MADV_DONTNEED``: the process
unmaps them, the kernel keeps them in its page cache, a later read maps them in again with a
minor fault, never a disk read while the cache holds them). A task's resident memory is then
what it allocates, plus this budget, plus one tile, whatever the size of the file.
:class:`apps.core.warmup.WarmUp` sets the budget of a dask worker from its memory limit
(:func:`apps.core.warmup.resident_budget`: 64 MiB of 512 MiB, 1.75 GiB of 4 GiB).
"""

from __future__ import annotations

import math
import mmap
import os
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.references import Pins, check_opened

#: Files kept mapped per process (each holds a file descriptor).
MAX_FILES = 128


def _half_of_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return 8 * 2**30


#: Bytes of files kept mapped per process (at most 64 GiB, half of this machine's memory): the
#: page tables of fully read mappings cost 1/512 of it.
MAX_BYTES = min(64 * 2**30, _half_of_memory())

#: Bytes of read file pages kept mapped in per process (see the module docstring).
RESIDENT_BYTES = MAX_BYTES

#: Seconds between two checks for deleted or replaced files.
SWEEP_SECONDS = 10.0

_lock = threading.Lock()
_next_sweep = 0.0
_maps: OrderedDict[str, tuple[tuple[int, ...], np.ndarray, mmap.mmap | None]] = OrderedDict()
#: Byte ranges read and released, oldest first: ``(path, offset, nbytes) -> map``.
_resident: OrderedDict[tuple[str, int, int], mmap.mmap] = OrderedDict()
_resident_total = 0
_PAGE = mmap.PAGESIZE


def file_map(path: str, pinned: Pins | None = None) -> np.ndarray:
    """The whole file ``path`` as a read-only uint8 array (mapped once per process).

    ``pinned``: the files a check saw (``DataSet.pinned``); another file under ``path`` (it
    was swapped since) is refused, also when this process mapped it before.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the data file: {exc.strerror}.") from exc
    with _lock:
        if time.monotonic() >= _next_sweep:
            _sweep()
        entry = _maps.get(path)
        if entry is not None and entry[0] == _key(st) and _pinned(st, pinned):
            _maps.move_to_end(path)
            return entry[1]
        if entry is not None:
            _drop(path)
        key, whole, region = _map_file(path, pinned)
        _maps[path] = (key, whole, region)
        _maps.move_to_end(path)
        _evict()
        return whole


def release(path: str, offset: int, nbytes: int) -> None:
    """Bytes ``[offset, offset + nbytes)`` of ``path``'s map were read and are done with.

    They stay mapped in while the most recently released bytes fit :data:`RESIDENT_BYTES`;
    the oldest beyond are advised away. Views of them stay valid (a read faults the pages in
    again from the page cache or the file).
    """
    global _resident_total
    with _lock:
        entry = _maps.get(path)
        if entry is None or entry[2] is None or nbytes <= 0:
            return
        key = (path, offset, nbytes)
        if key in _resident:
            _resident.move_to_end(key)
            return
        _resident[key] = entry[2]
        _resident_total += nbytes
        _shrink(RESIDENT_BYTES)


def resident_bytes() -> int:
    """Bytes released and still kept mapped in (tests, the tile size)."""
    return _resident_total


def limit_resident(max_bytes: int) -> None:
    """Keep at most ``max_bytes`` of read pages mapped in from now on (only ever lowered)."""
    global RESIDENT_BYTES
    with _lock:
        RESIDENT_BYTES = min(RESIDENT_BYTES, max(0, int(max_bytes)))
        _shrink(RESIDENT_BYTES)


def _shrink(budget: int) -> None:
    """Advise the oldest released ranges away until the rest fit ``budget`` (lock held)."""
    global _resident_total
    while _resident_total > budget and _resident:
        (_path, offset, nbytes), region = _resident.popitem(last=False)
        _resident_total -= nbytes
        _advise_away(region, offset, nbytes)


def _advise_away(region: mmap.mmap, offset: int, nbytes: int) -> None:
    start = offset - offset % _PAGE
    if region.closed or start >= len(region):
        return
    # A read-only shared file mapping: the pages leave this process, their data stays in the
    # file and the page cache, and views of them read it again (pages shared with a range
    # still kept are only faulted in again).
    region.madvise(mmap.MADV_DONTNEED, start, min(offset + nbytes, len(region)) - start)


def unmap_pages(path: str) -> None:
    """Let go of every page of ``path``'s map in this process and forget the map: a page that a
    process maps stays in the page cache whatever it is advised (:func:`pagecache.evict`)."""
    with _lock:
        entry = _maps.get(path)
        if entry is not None and entry[2] is not None:
            _advise_away(entry[2], 0, len(entry[2]))
        _drop(path)


def _drop(path: str) -> None:
    """Forget ``path``'s map and its released ranges (lock held): the map closes with its last
    view, and its pages leave the process with it."""
    global _resident_total
    _maps.pop(path, None)
    for key in [k for k in _resident if k[0] == path]:
        _resident.pop(key)
        _resident_total -= key[2]


def map_view(
    path: str,
    dtype: Any,
    offset: int,
    shape: tuple[int, ...],
    pinned: Pins | None = None,
) -> np.ndarray:
    """``shape`` items of ``dtype`` from byte ``offset`` of ``path``: a read-only view of its map.

    Like ``np.memmap(path, dtype, "r", offset, shape)``, without mapping the file again;
    ``pinned`` as for :func:`file_map`.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    whole = file_map(path, pinned)
    if offset + nbytes > whole.size:
        raise DataSetError(
            f"{path}: file is too short: it has {whole.size} bytes, {offset + nbytes} are needed."
        )
    return whole[offset : offset + nbytes].view(dtype).reshape(shape)


def require_size(path: str, need: int, label: str) -> None:
    """DataSetError naming ``path`` and ``label`` unless the file has at least ``need`` bytes.

    Readers call it before every read of a mapped file, not only when mapping it: touching a
    page of a file that was truncated after it was mapped kills the process with SIGBUS
    instead of raising.
    """
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read {label}: {exc.strerror}.") from exc
    if size < need:
        raise DataSetError(
            f"{path}: file is too short for {label}: it has {size} bytes, "
            f"{need} are needed. Was it truncated or overwritten?"
        )


def limit_bytes(max_bytes: int) -> None:
    """Keep at most ``max_bytes`` of files mapped in this process from now on."""
    global MAX_BYTES
    with _lock:
        MAX_BYTES = min(MAX_BYTES, max(0, int(max_bytes)))
        _evict()


def forget() -> None:
    """Drop every kept mapping (tests; views still in use keep theirs)."""
    global _resident_total
    with _lock:
        _maps.clear()
        _resident.clear()
        _resident_total = 0


def _key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _sweep() -> None:
    """Drop the maps of files that no longer exist under their path as mapped (lock held)."""
    global _next_sweep
    _next_sweep = time.monotonic() + SWEEP_SECONDS
    for path, (key, _whole, _region) in list(_maps.items()):
        try:
            current = _key(os.stat(path))
        except OSError:
            current = None
        if current != key:
            _drop(path)


def _pinned(st: os.stat_result, pinned: Pins | None) -> bool:
    return pinned is None or pinned.hold(st)


def _map_file(
    path: str, pinned: Pins | None
) -> tuple[tuple[int, ...], np.ndarray, mmap.mmap | None]:
    """``(key, whole, region)`` of the file open under ``path`` now: its identity is taken
    from the open descriptor, so the file mapped is the file checked."""
    try:
        with open(path, "rb") as f:
            check_opened(f.fileno(), path, pinned)
            st = os.fstat(f.fileno())
            if st.st_size == 0:  # mmap refuses empty files
                empty = np.empty(0, dtype=np.uint8)
                empty.flags.writeable = False
                return _key(st), empty, None
            region = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot map the data file: {exc.strerror}.") from exc
    return _key(st), np.frombuffer(region, dtype=np.uint8), region


def _evict() -> None:
    total = sum(whole.size for _key, whole, _region in _maps.values())
    while len(_maps) > 1 and (len(_maps) > MAX_FILES or total > MAX_BYTES):
        path = next(iter(_maps))
        total -= _maps[path][1].size
        _drop(path)
