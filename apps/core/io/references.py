"""What a dataset's files may refer to: one check for every file a reader will open.

A file inside a data folder can name other files: HDF5 external links, virtual dataset sources
and external raw storage, an Arina master's data files, a sidecar's partitions, an EMPAD
``<raw_file>``, the ``.mib`` files of an acquisition, correction maps. Each reader declares
them (``DataSet.references``) and :func:`check_files` refuses any that resolves, after
following symlinks, to a file the caller does not allow. What is allowed is a plain argument
(:class:`InFolders`, or any object with ``allows(real_path)``): the Core reads no settings.

HDF5 files are walked link by link without following anything, and each linked file is checked
before it is opened and walked in turn. A link is resolved as HDF5 resolves it: an absolute name
as it is, else next to the file that holds the link; when neither exists, HDF5 would try the
process's working directory, so such a link is refused. External raw storage is always refused:
HDF5 resolves it against the working directory.

The check and the read are apart in time (a job's partitions are read by dask workers, seconds
to hours after the driver checked them), so a file could be swapped in between: for a symlink
out, or rewritten in place so that its dataset becomes a link out. :func:`check_files` therefore
records which file it saw (device and inode, of the file the kernel opened for it, so the check
itself cannot be raced), and readers accept, after opening a file, only those
(:func:`check_opened`, ``DataSet.pinned``). A hard link is the same file under another name:
it is judged by its name, like everywhere else (docs/security.md).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from apps.core.errors import ForbiddenReference

if TYPE_CHECKING:
    import h5py

#: What h5py raises for unreadable files and data (HDF5 errors surface as OSError or
#: RuntimeError, a missing object as KeyError).
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


#: A file's identity: ``(st_dev, st_ino)``.
FileId = tuple[int, int]


@dataclass(frozen=True)
class Reference:
    """The file ``path`` a reader will open, named by ``source`` through ``link``.

    ``source`` is empty for the dataset's own file; ``link`` says how it is named, e.g.
    ``"external link /entry/data/data_000002 -> ../x.h5"``.
    """

    path: str
    source: str = ""
    link: str = "the dataset's file"
    param: str | None = None  # the dataset parameter naming the file, if one does
    file_id: FileId | None = None  # (device, inode) of the file the check saw, if it exists
    size: int = 0  # and its size

    def describe(self) -> str:
        if not self.source:
            return f"{self.path} ({self.link})"
        return f"{self.source}: {self.link}"


class AllowedFiles(Protocol):
    """Which files may be read: ``allows`` gets a real path (every symlink resolved)."""

    def allows(self, path: Path) -> bool: ...


@dataclass(frozen=True)
class InFolders:
    """Files inside any of ``folders`` (compared by real path: a symlinked folder counts as
    its target, and ``/data-evil`` is not inside ``/data``)."""

    folders: tuple[str | Path, ...]

    def allows(self, path: Path) -> bool:
        return any(path.is_relative_to(os.path.realpath(f)) for f in self.folders)


def check_files(refs: Iterable[Reference], allowed: AllowedFiles) -> list[Reference]:
    """Return ``refs`` (each with the ``file_id`` of the file seen) if ``allowed`` allows every
    one by real path; else ForbiddenReference naming the first file it refuses and the link
    that leads to it."""
    checked = []
    for ref in refs:
        real, st = _real_file(ref.path)
        if not allowed.allows(Path(real)):
            raise ForbiddenReference(
                f"{ref.describe()} leads to {ref.path}, outside the data folders this dataset "
                "may use; the portal reads only files inside them. Move the data (or the "
                "link's target) into such a folder.",
                param=ref.param,
            )
        if st is None:
            checked.append(ref)
        else:
            checked.append(replace(ref, file_id=_identity(st), size=st.st_size))
    return checked


def _real_file(path: str) -> tuple[str, os.stat_result | None]:
    """The real path of ``path`` and the identity of that file, taken from one opening (the
    kernel's name for the open descriptor), so a swap between the two cannot mislead the check.

    ``O_PATH`` opens without reading (a FIFO does not block). A missing file: its real path
    and no status (the reader says it is missing).
    """
    flags = getattr(os, "O_PATH", os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return os.path.realpath(path), None
    try:
        real = _fd_path(fd) or os.path.realpath(path)
        return real, os.fstat(fd)
    finally:
        os.close(fd)


def _fd_path(fd: int) -> str | None:
    try:
        name = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc (not Linux)
        return None
    return name if name.startswith("/") and os.path.exists(name) else None


def _identity(st: os.stat_result) -> FileId:
    return (st.st_dev, st.st_ino)


@dataclass(frozen=True)
class Pins:
    """The files a check saw (``(device, inode)``), on the host that checked them.

    A file's device number belongs to the host (a network file system gets one per mount, so
    the same file has another on each dask node); its inode number belongs to the file system.
    On the checking host both are compared, elsewhere the inode number and the size of the
    file (an inode number alone could match a file on another file system by chance).
    """

    host: str
    files: frozenset[FileId]
    sizes: frozenset[tuple[int, int]]  # (inode, size) of the files that exist

    def hold(self, st: os.stat_result) -> bool:
        if socket.gethostname() == self.host:
            return (st.st_dev, st.st_ino) in self.files
        return (st.st_ino, st.st_size) in self.sizes


def pinned_files(refs: Iterable[Reference]) -> Pins:
    """:class:`Pins` of the files ``refs`` saw (from :func:`check_files`)."""
    seen = {ref.file_id: ref.size for ref in refs if ref.file_id is not None}
    return Pins(
        host=socket.gethostname(),
        files=frozenset(seen),
        sizes=frozenset((ino, size) for (_, ino), size in seen.items()),
    )


def check_opened(fd: int, path: str, pinned: Pins | None) -> None:
    """Refuse the open file ``fd`` (opened as ``path``) unless it is one of the files the
    check saw; ``pinned`` None: opened without a check (command-line tools, tests)."""
    if pinned is None or pinned.hold(os.fstat(fd)):
        return
    raise ForbiddenReference(
        f"{path} is not the file that was checked when the dataset was opened: it was replaced "
        "(or a link on its way now leads elsewhere) since; the portal reads only the files it "
        "checked. Run the analysis again once the file is back."
    )


def hdf5_references(path: str, allowed: AllowedFiles) -> list[Reference]:
    """``path`` and every file reading it may open, each checked with ``allowed`` before it is
    opened: targets of external links and virtual dataset sources, recursively.

    Raises ForbiddenReference for a reference ``allowed`` refuses, one that does not exist,
    and for any dataset with HDF5 external raw storage.
    """
    found = check_files([Reference(path)], allowed)
    queue, seen = [path], set()
    while queue:
        current = queue.pop()
        if os.path.realpath(current) in seen:
            continue
        seen.add(os.path.realpath(current))
        for ref in _links_of(current):
            found.extend(check_files([ref], allowed))
            if _is_hdf5(ref.path):
                queue.append(ref.path)
    return found


def _links_of(path: str) -> list[Reference]:
    """The files one HDF5 file names (external links, virtual sources), unchecked.

    Walks with h5py's low-level link iteration: the high-level ``visititems_links`` costs a
    lookup per link, which for a NeXus master took longer than opening the dataset.
    """
    import h5py  # here: a process that reads no HDF5 file does not import it

    try:
        h5file = h5py.File(path, "r")
    except H5_ERRORS:
        return []  # not readable as HDF5: the reader says what is wrong with it
    links: list[tuple[bytes, int]] = []
    refs: list[Reference] = []
    with h5file:
        # Collected first: an exception must not cross HDF5's iteration.
        h5file.id.links.visit(lambda name, info: links.append((name, info.type)), info=True)
        for name, kind in links:
            refs.extend(_link_files(h5file, path, name, kind))
    return refs


def _link_files(h5file: h5py.File, path: str, name: bytes, kind: int) -> list[Reference]:
    """The files one link (and the dataset it holds, if any) makes a reader open."""
    import h5py

    where = "/" + name.decode("utf-8", "replace")
    if kind == h5py.h5l.TYPE_EXTERNAL:
        target = h5file.id.links.get_val(name)[0].decode("utf-8", "replace")
        return [_linked(path, target, f"external link {where} -> {target}")]
    if kind == h5py.h5l.TYPE_SOFT:
        return []  # a path inside this file, walked on its own
    if kind != h5py.h5l.TYPE_HARD:
        raise ForbiddenReference(
            f"{path}: {where} is a link of a kind the portal does not follow (user-defined)."
        )
    try:
        obj = h5py.h5o.open(h5file.id, name)
    except H5_ERRORS:
        return []  # unreadable: the reader says so if it needs the object
    if not isinstance(obj, h5py.h5d.DatasetID):
        return []
    return _dataset_files(path, where, obj.get_create_plist())


def _dataset_files(path: str, name: str, dcpl: Any) -> list[Reference]:
    import h5py

    if dcpl.get_external_count():
        files = ", ".join(
            sorted({dcpl.get_external(i)[0].decode() for i in range(dcpl.get_external_count())})
        )
        raise ForbiddenReference(
            f"{path}: dataset {name} keeps its data in external raw storage ({files}); the "
            "portal does not read HDF5 external storage (HDF5 resolves it against the working "
            "directory). Copy the data into the file (h5repack) or register the raw file itself."
        )
    if dcpl.get_layout() != h5py.h5d.VIRTUAL:
        return []
    refs = []
    for i in range(dcpl.get_virtual_count()):
        file_name = dcpl.get_virtual_filename(i)
        if file_name == ".":
            continue  # a source in the same file
        what = f"virtual dataset {name} source {file_name}:{dcpl.get_virtual_dsetname(i)}"
        refs.append(_linked(path, _vds_name(file_name, path, what), what))
    return refs


def _vds_name(name: str, path: str, what: str) -> str:
    # A name with printf specifiers (%b: the block number) stands for one file per block of an
    # unlimited dataset: files that do not exist yet cannot be checked.
    if "%" in name.replace("%%", ""):
        raise ForbiddenReference(
            f"{path}: {what} names one source file per block (a printf pattern); the portal "
            "follows only virtual sources it can check."
        )
    return name.replace("%%", "%")


def _linked(holder: str, name: str, link: str) -> Reference:
    """Where HDF5 finds ``name`` linked from ``holder``: absolute as it is, else next to
    ``holder`` (also the last part of a missing absolute name). Refused when neither exists:
    HDF5 would then look in the working directory."""
    folder = os.path.dirname(holder)
    if os.path.isabs(name):
        candidates = [name, os.path.join(folder, os.path.basename(name))]
    else:
        candidates = [os.path.join(folder, name)]
    for candidate in candidates:
        if os.path.exists(candidate):
            return Reference(path=candidate, source=holder, link=link)
    raise ForbiddenReference(
        f"{holder}: {link} names a file that does not exist next to it; HDF5 would look for it "
        "in the working directory, which the portal never does. Put the file next to the one "
        "that links to it, or remove the link."
    )


def _is_hdf5(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except OSError:
        return False
    if head == HDF5_SIGNATURE:
        return True
    import h5py  # a user block before the signature: only HDF5 finds it

    return bool(h5py.is_hdf5(path))


def check_h5_opened(h5file: h5py.File, pinned: Pins | None) -> None:
    """:func:`check_opened` for a file HDF5 opened (by a reader, or following an external link)."""
    if pinned is not None:
        check_opened(h5file.id.get_vfd_handle(), h5file.filename, pinned)


def check_virtual_sources(path: str, dset: h5py.Dataset, pinned: Pins | None) -> None:
    """Before HDF5 reads a virtual dataset: each source file must be one the check saw.

    HDF5 opens the sources during the read and closes them after, out of the portal's reach, so
    this looks at them by name just before; a swap in the microseconds between is not caught.
    """
    if pinned is None or not dset.is_virtual:
        return
    holder = dset.file.filename
    for source in dset.virtual_sources():
        name = str(source.file_name)
        if name == ".":
            continue
        what = f"virtual dataset {dset.name} source {name}"
        found = _linked(holder, _vds_name(name, holder, what), what)
        try:
            held = pinned.hold(os.stat(found.path))
        except OSError:
            held = False
        if not held:
            raise ForbiddenReference(
                f"{found.path} is not the file that was checked when {path} was opened: it was "
                "replaced since; the portal reads only the files it checked. Run the analysis "
                "again once the file is back."
            )
