"""Whether a file's bytes are in the kernel's page cache, and dropping them from it.

A dataset read from the page cache goes at memory speed; one read from disk ("cold") goes at
the disk's speed, and how it is read decides how close to that speed: the readers take another
path for cold data (:mod:`apps.core.io.direct`). :func:`cached_fraction` tells the two apart;
:func:`evict` makes a file cold, for benchmarks and tests of that path.

:func:`cached_fraction` counts with ``cachestat`` (Linux 6.5). Linux answers it (and
``mincore``) only for files the caller owns or may write (page-cache side channels), and data
files of a facility are often neither: for those it probes sample pages with
``preadv2(RWF_NOWAIT)``, which reads a page only if it is cached and otherwise fails at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
from collections.abc import Iterable

from apps.core.errors import DataSetError
from apps.core.io import mapping

_PAGE = 4096

#: Pages probed per range by :func:`probed_fraction`.
SAMPLES = 8

#: Windows, and the bytes of each, that :func:`estimated_fraction` counts in a larger range.
WINDOWS = 16
WINDOW_BYTES = 2**20


def evict(paths: Iterable[str]) -> None:
    """Drop every page of the files ``paths`` from the page cache.

    Dirty pages are written first (``fsync``: the kernel drops clean pages only), and this
    process's own memory maps of the files let go of their pages (a page any process still maps
    stays cached). Raises DataSetError naming the file if one is missing, not a regular file,
    or the kernel refuses.
    """
    for path in paths:
        path = os.fspath(path)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DataSetError(
                f"{path}: cannot evict the file from the page cache: {exc.strerror}."
            ) from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise DataSetError(
                    f"{path}: cannot evict it from the page cache: not a regular file."
                )
            mapping.unmap_pages(path)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError as exc:
            raise DataSetError(
                f"{path}: cannot evict the file from the page cache: {exc.strerror}."
            ) from exc
        finally:
            os.close(fd)


def cached_fraction(fd: int, offset: int, nbytes: int, samples: int = SAMPLES) -> float:
    """The share of bytes ``[offset, offset + nbytes)`` of the open file ``fd`` that are in the
    page cache (1.0 for an empty range): exact by ``cachestat`` where Linux answers it (6.5 and
    later, for files this process owns or may write), else :func:`probed_fraction`."""
    if nbytes <= 0:
        return 1.0
    counted = _cachestat(fd, offset, nbytes)
    if counted is not None:
        return min(1.0, counted * _PAGE / nbytes)
    return probed_fraction(fd, offset, nbytes, samples)


def estimated_fraction(fd: int, offset: int, nbytes: int, samples: int = SAMPLES) -> float:
    """:func:`cached_fraction` counted in :data:`WINDOWS` windows of :data:`WINDOW_BYTES`
    spread evenly over a range larger than they are (exact over a smaller one).

    ``cachestat`` walks every page of the range it is given: 5.9 ms for 1 GiB on the Zen 5
    host, a sixth of a warm 1 GiB sum's time, where the windows take 1/64 of it. The
    readers need only to tell a cached partition from a cold one (:mod:`apps.core.io.direct`).
    """
    if nbytes <= WINDOWS * WINDOW_BYTES:
        return cached_fraction(fd, offset, nbytes, samples)
    counted = 0
    for i in range(WINDOWS):
        at = offset + (nbytes - WINDOW_BYTES) * i // (WINDOWS - 1)
        at -= at % _PAGE
        pages = _cachestat(fd, at, WINDOW_BYTES)
        if pages is None:
            return probed_fraction(fd, offset, nbytes, samples)
        counted += pages
    return min(1.0, counted * _PAGE / (WINDOWS * WINDOW_BYTES))


def probed_fraction(fd: int, offset: int, nbytes: int, samples: int = SAMPLES) -> float:
    """The share of ``samples`` pages, spread evenly over bytes ``[offset, offset + nbytes)``
    of the open file ``fd``, that a ``RWF_NOWAIT`` read finds cached.

    A page found missing is read in afterwards, with the kernel's readahead window (8 MiB here:
    16 probes read 640 MiB of a cold file). So ``fd`` is advised ``POSIX_FADV_RANDOM`` first (no
    readahead on this open file; the advice is the descriptor's, not the file's): a miss then
    reads its one page. Use a descriptor of its own. Where the disk answers within the read
    call (a page the host caches), a missing page may be counted as cached.
    """
    if nbytes <= 0 or samples <= 0:
        return 1.0
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    probe = bytearray(1)
    hits = 0
    for i in range(samples):
        # at the middle of each of ``samples`` equal parts: a miss reads its page in, so
        # probes of ranges that share a start must not fall on each other's pages
        at = offset + nbytes * (2 * i + 1) // (2 * samples)
        with contextlib.suppress(BlockingIOError):  # raised: not cached
            hits += os.preadv(fd, [probe], at - at % _PAGE, os.RWF_NOWAIT) >= 0
    return hits / samples


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


_SYS_CACHESTAT = 451  # the same number on every architecture (a syscall of 6.5)
_cachestat_works = sys.platform == "linux"
_libc = ctypes.CDLL(None, use_errno=True) if _cachestat_works else None


def _cachestat(fd: int, offset: int, nbytes: int) -> int | None:
    """Pages of the range in the page cache, or None where ``cachestat`` is refused (EPERM:
    a file this process neither owns nor may write) or missing (ENOSYS, kernels before 6.5)."""
    global _cachestat_works
    if not _cachestat_works or _libc is None:
        return None
    rng, st = _Range(offset, nbytes), _Stat()
    if _libc.syscall(_SYS_CACHESTAT, fd, ctypes.byref(rng), ctypes.byref(st), 0) == 0:
        return int(st.cache)
    if ctypes.get_errno() == errno.ENOSYS:
        _cachestat_works = False
    return None


def file_cached_fraction(path: str, samples: int = 64) -> float:
    """:func:`cached_fraction` of the whole file ``path`` (benchmarks check their eviction)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot open the file: {exc.strerror}.") from exc
    try:
        return cached_fraction(fd, 0, os.fstat(fd).st_size, samples)
    finally:
        os.close(fd)
