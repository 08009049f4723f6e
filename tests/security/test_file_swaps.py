"""A file swapped after the check (issue 19, beyond the list): the race between the check of a
dataset's files and their reading.

The job driver checks every file a dataset refers to when it opens the dataset; the partitions
are then read by dask workers, seconds to hours later, each opening its files by name. A user
who can write into a data folder registers a harmless file, starts a long analysis, and swaps
the file for a symlink to a secret (or rewrites an HDF5 file in place so that its dataset is an
external link out) while the partitions run. Every partition must read only the very files
(device and inode) the check saw, and refuse any other, naming the file.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from apps.core.errors import DataSetError
from apps.core.ingest import PartitionCopy, write_partition
from apps.core.io import mapping
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_open, dataset_register
from tests.security.attacks import FRAMES_BYTES, MARKER, NAV, SIG, Places, canary_frames

pytestmark = pytest.mark.django_db


def _worker_partitions(row: Dataset) -> list:
    """The partitions as a dask worker gets them: opened (and checked) by the driver, pickled."""
    return [pickle.loads(pickle.dumps(p)) for p in dataset_open(row).partitions()]


def _read(part) -> bytes:
    part.locate(None)
    try:
        return np.ascontiguousarray(part.read(part.start, part.stop)).tobytes()
    finally:
        part.close()


def _swap_for_link(path: Path, target: Path) -> None:
    path.unlink()
    path.symlink_to(target)


def _assert_refused(part, path: Path) -> None:
    mapping.forget()  # a worker that never mapped the file before
    with pytest.raises(DataSetError) as refused:
        _read(part)
    assert str(path) in str(refused.value)
    assert "checked" in str(refused.value)
    assert MARKER.decode() not in str(refused.value)


def _raw_row(users: SimpleNamespace, places: Places) -> tuple[Path, Dataset]:
    path = places.data / "scan.raw"
    np.zeros((*NAV, *SIG), dtype=np.uint8).tofile(path)
    params = {"nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "|u1"}
    row = dataset_register(
        owner=users.owner, name="scan", path=str(path), format="raw", params=params
    )
    return path, row


def _npy_row(users: SimpleNamespace, places: Places) -> tuple[Path, Dataset]:
    path = places.data / "scan.npy"
    np.save(path, np.zeros((*NAV, *SIG), dtype=np.uint8))
    np.save(places.outside / "secret.npy", canary_frames((*NAV, *SIG)))  # the swap's target
    return path, dataset_register(owner=users.owner, name="scan", path=str(path))


def _h5_row(users: SimpleNamespace, places: Places) -> tuple[Path, Dataset]:
    path = places.data / "scan.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((*NAV, *SIG), dtype=np.uint8)
    row = dataset_register(
        owner=users.owner, name="scan", path=str(path), params={"dataset": "/data"}
    )
    return path, row


# A registered file of each format, and the secret of the same format its name is swapped for.
SWAPS: dict[str, tuple[Callable[[SimpleNamespace, Places], tuple[Path, Dataset]], str]] = {
    "raw": (_raw_row, "secret-part.raw"),
    "npy": (_npy_row, "secret.npy"),
    "hdf5": (_h5_row, "secret.h5"),
}


@pytest.mark.parametrize("form", SWAPS)
def test_a_file_swapped_for_a_symlink_out_is_refused(
    users: SimpleNamespace, places: Places, form: str
) -> None:
    make_row, secret = SWAPS[form]
    path, row = make_row(users, places)
    (part,) = _worker_partitions(row)
    _swap_for_link(path, places.outside / secret)
    assert MARKER in path.read_bytes()  # the swapped name does lead to the secret
    _assert_refused(part, path)


def test_an_hdf5_file_rewritten_in_place_with_an_external_link_out_is_refused(
    users: SimpleNamespace, places: Places
) -> None:
    path, row = _h5_row(users, places)
    inode = path.stat().st_ino
    (part,) = _worker_partitions(row)
    with h5py.File(path, "w") as f:  # truncated and rewritten: the same inode
        f["data"] = h5py.ExternalLink(str(places.outside / "secret.h5"), "/data")
    assert path.stat().st_ino == inode
    mapping.forget()
    with pytest.raises(DataSetError) as refused:
        _read(part)
    assert str(places.outside / "secret.h5") in str(refused.value)
    assert MARKER.decode() not in str(refused.value)


def test_a_compressed_hdf5_file_swapped_for_a_symlink_out_is_refused(
    users: SimpleNamespace, places: Places
) -> None:
    """Read through HDF5 itself (not a memory map): the check sees the file HDF5 opened."""
    path = places.data / "packed.h5"
    secret = places.outside / "packed-secret.h5"
    for target, values in ((path, np.zeros((*NAV, *SIG), np.uint8)), (secret, None)):
        with h5py.File(target, "w") as f:
            data = canary_frames((*NAV, *SIG)) if values is None else values
            f.create_dataset("data", data=data, compression="gzip", chunks=(1, 1, *SIG))
    row = dataset_register(
        owner=users.owner, name="packed", path=str(path), params={"dataset": "/data"}
    )
    (part,) = _worker_partitions(row)
    _swap_for_link(path, secret)
    _assert_refused(part, path)


def test_an_arina_data_file_swapped_for_a_symlink_out_is_refused(
    users: SimpleNamespace, places: Places
) -> None:
    folder = places.data / "arina"
    folder.mkdir()
    data_file = folder / "scan_data_000001.h5"
    with h5py.File(data_file, "w") as f:
        f["entry/data/data"] = np.zeros((4, *SIG), dtype="u1")
    master = folder / "scan_master.h5"
    with h5py.File(master, "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink(data_file.name, "/entry/data/data")
    secret = places.outside / "arina-secret.h5"
    with h5py.File(secret, "w") as f:
        f["entry/data/data"] = canary_frames((4, *SIG))
    row = dataset_register(
        owner=users.owner, name="arina", path=str(master), params={"nav_shape": list(NAV)}
    )
    (part,) = _worker_partitions(row)
    _swap_for_link(data_file, secret)
    _assert_refused(part, data_file)


def test_a_virtual_dataset_source_swapped_for_a_symlink_out_is_refused(
    users: SimpleNamespace, places: Places
) -> None:
    source = places.data / "source.h5"
    with h5py.File(source, "w") as f:
        f["data"] = np.zeros((*NAV, *SIG), dtype=np.uint8)
    path = places.data / "virtual.h5"
    layout = h5py.VirtualLayout(shape=(*NAV, *SIG), dtype="u1")
    layout[:] = h5py.VirtualSource(source.name, "data", shape=(*NAV, *SIG))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("data", layout)
    row = dataset_register(
        owner=users.owner, name="virtual", path=str(path), params={"dataset": "/data"}
    )
    (part,) = _worker_partitions(row)
    _swap_for_link(source, places.outside / "secret.h5")
    _assert_refused(part, source)


def test_ingestion_tasks_read_only_the_checked_file(
    users: SimpleNamespace, places: Places, tmp_path: Path
) -> None:
    """An ingestion task reopens the source on the worker: after a swap it writes nothing."""
    path, row = _raw_row(users, places)
    source = dataset_open(row)
    spec = {**source.describe(), "pinned": source.pinned}
    _swap_for_link(path, places.outside / "secret-part.raw")
    mapping.forget()
    copy = PartitionCopy(index=0, node="node-a", start=0, stop=4, rel="ds-1/part-00000.raw")
    root = tmp_path / "node-root"
    with pytest.raises(DataSetError, match="checked"):
        write_partition(spec, copy, str(root))
    assert not any(MARKER in p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_a_worker_on_another_host_compares_inode_and_size(
    users: SimpleNamespace, places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network file system gives a file another device number on every host: a dask node
    reads the file the driver checked, and refuses a swapped one all the same."""
    path, row = _raw_row(users, places)
    (part,) = _worker_partitions(row)
    monkeypatch.setattr("socket.gethostname", lambda: "another-node")
    mapping.forget()
    assert _read(part) == bytes(FRAMES_BYTES)
    _swap_for_link(path, places.outside / "secret-part.raw")
    _assert_refused(part, path)


def test_files_the_check_saw_still_read(users: SimpleNamespace, places: Places) -> None:
    """Rewriting a raw file in place (same file, new values) is the user's own data: read."""
    path, row = _raw_row(users, places)
    (part,) = _worker_partitions(row)
    with open(path, "r+b") as f:
        f.write(bytes([7]) * 4)
    mapping.forget()
    assert _read(part)[:5] == bytes([7, 7, 7, 7, 0])
