"""What a file may refer to: the one check every reader's files pass (apps.core.io.references).

The attacks themselves (each planted file, every read path) are in tests/security; here the
rules: what is allowed inside the folders, how links are resolved, what each reader declares.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from apps.core.errors import DataSetError, ForbiddenReference
from apps.core.io import open_dataset
from apps.core.io.raw import write_sidecar
from apps.core.io.references import InFolders, Reference, check_files, hdf5_references
from tests.core.io.test_io_mib import write_mib


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "outside").mkdir()
    return folder


def frames(n: int = 4) -> np.ndarray:
    return np.arange(n * 6 * 5, dtype=np.uint16).reshape(n, 6, 5)


def test_it_refuses_a_symlink_out_and_a_sibling_prefix(data: Path, tmp_path: Path) -> None:
    (tmp_path / "outside" / "f").write_bytes(b"x")
    (data / "link").symlink_to(tmp_path / "outside" / "f")
    (tmp_path / "data-evil").mkdir()
    (tmp_path / "data-evil" / "g").write_bytes(b"x")
    inside = Reference(str(data / "a"), str(data / "s.json"), "partition 0")
    assert check_files([inside], InFolders((data,))) == [inside]
    with pytest.raises(ForbiddenReference, match=r"s.json: partition 1 leads to .*/data/link"):
        check_files(
            [inside, Reference(str(data / "link"), str(data / "s.json"), "partition 1")],
            InFolders((data,)),
        )
    with pytest.raises(ForbiddenReference, match="data-evil/g, outside the data folders"):
        check_files([Reference(str(tmp_path / "data-evil" / "g"))], InFolders((data,)))


def test_it_judges_folders_by_their_real_path(data: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(data)
    (data / "a.npy").write_bytes(b"x")
    assert check_files([Reference(str(data / "a.npy"))], InFolders((tmp_path / "alias",)))


def test_it_follows_links_that_stay_inside_recursively(data: Path) -> None:
    sub = data / "sub"
    sub.mkdir()
    with h5py.File(sub / "frames.h5", "w") as f:
        f["d"] = frames()
    with h5py.File(data / "middle.h5", "w") as f:
        f["x"] = h5py.ExternalLink("sub/frames.h5", "/d")
    layout = h5py.VirtualLayout(shape=(4, 6, 5), dtype="u2")
    layout[:] = h5py.VirtualSource("v-src.h5", "d", shape=(4, 6, 5))
    with h5py.File(data / "v-src.h5", "w") as f:
        f["d"] = frames() + 1
    with h5py.File(data / "v.h5", "w") as f:
        f["top"] = h5py.ExternalLink("middle.h5", "/x")
        f.create_virtual_dataset("virt", layout)
    refs = hdf5_references(str(data / "v.h5"), InFolders((data,)))
    assert [(Path(r.path).name, r.link.split(" ")[0]) for r in refs] == [
        ("v.h5", "the"),
        ("middle.h5", "external"),
        ("v-src.h5", "virtual"),
        ("frames.h5", "external"),
    ]
    ds = open_dataset(str(data / "v.h5"), params={"dataset": "/virt"}, allowed=InFolders((data,)))
    np.testing.assert_array_equal(ds.partitions()[0].read(0, 4), (frames() + 1).reshape(4, 30))


def test_it_refuses_a_nested_link_out(data: Path, tmp_path: Path) -> None:
    with h5py.File(tmp_path / "outside" / "o.h5", "w") as f:
        f["d"] = frames()
    with h5py.File(data / "inner.h5", "w") as f:
        f["d"] = h5py.ExternalLink("../outside/o.h5", "/d")
    with h5py.File(data / "outer.h5", "w") as f:
        f["d"] = h5py.ExternalLink("inner.h5", "/d")
    with pytest.raises(
        ForbiddenReference, match=r"inner.h5: external link /d -> \.\./outside/o.h5 leads to"
    ):
        open_dataset(str(data / "outer.h5"), params={"dataset": "/d"}, allowed=InFolders((data,)))


def test_a_dangling_link_is_refused_as_the_working_directory_would_be_searched(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path / "outside")
    with h5py.File(tmp_path / "outside" / "gone.h5", "w") as f:
        f["d"] = frames()  # what HDF5 finds in the working directory
    with h5py.File(data / "m.h5", "w") as f:
        f["d"] = frames()
        f["extra"] = h5py.ExternalLink("gone.h5", "/d")
    with pytest.raises(ForbiddenReference, match=r"external link /extra -> gone.h5 names a file"):
        open_dataset(str(data / "m.h5"), params={"dataset": "/d"}, allowed=InFolders((data,)))
    # Unchecked, HDF5 does read the working directory's file: the reason for the refusal.
    with h5py.File(data / "m.h5", "r") as f:
        assert f["extra"].shape == (4, 6, 5)


def test_external_storage_is_refused_also_inside(data: Path) -> None:
    (data / "frames.bin").write_bytes(frames().tobytes())
    with h5py.File(data / "e.h5", "w") as f:
        f.create_dataset("d", shape=(4, 6, 5), dtype="<u2", external=[("frames.bin", 0, 240)])
    with pytest.raises(ForbiddenReference, match=r"dataset /d keeps its data in external raw"):
        open_dataset(str(data / "e.h5"), allowed=InFolders((data,)))


def test_mib_siblings_and_hdr_are_declared(data: Path, tmp_path: Path) -> None:
    write_mib(data / "scan_1.mib", frames(2))
    write_mib(tmp_path / "outside" / "scan_2.mib", frames(2), first=3)
    ds = open_dataset(str(data / "scan_1.mib"), allowed=InFolders((data,)))  # one file: fine
    assert ds.n_frames == 2
    (data / "scan_2.mib").symlink_to(tmp_path / "outside" / "scan_2.mib")
    assert open_dataset(str(data / "scan_1.mib")).n_frames == 4  # unchecked, it reads it
    with pytest.raises(ForbiddenReference, match=r"scan_2.mib, a file of the same acquisition"):
        open_dataset(str(data / "scan_1.mib"), allowed=InFolders((data,)))


def test_a_user_sidecar_may_not_place_partitions_on_node_storage(data: Path) -> None:
    (data / "p.raw").write_bytes(frames().tobytes())
    doc = {
        "dtype": "<u2",
        "nav_shape": [4],
        "sig_shape": [6, 5],
        "node_roots": {"node-a": str(data)},
        "partitions": [{"path": "p.raw", "start": 0, "stop": 4, "nodes": ["node-a"]}],
    }
    write_sidecar(data / "s.json", doc)
    with pytest.raises(ForbiddenReference, match=r'on node storage \("node_roots"\)'):
        open_dataset(str(data / "s.json"), allowed=InFolders((data,)))
    # With the server's roots the partition is found there, whatever the sidecar says.
    doc["node_roots"] = {"node-a": "/nowhere"}
    write_sidecar(data / "s.json", doc)
    ds = open_dataset(str(data / "s.json"), node_roots={"node-a": str(data)})
    part = ds.partitions()[0]
    np.testing.assert_array_equal(part.read(0, 4), frames().reshape(4, 30))
    assert part.path == os.path.join(str(data), "p.raw")


def test_a_correction_map_with_a_huge_header_is_refused_before_loading(data: Path) -> None:
    np.save(data / "d.npy", frames())
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**20, 2**20)}
    with open(data / "dark.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)  # claims 8 TiB, holds nothing
    with pytest.raises(DataSetError, match=r"dark map has shape \[1048576, 1048576\]; expected"):
        open_dataset(str(data / "d.npy"), params={"dark": "dark.npy"}, allowed=InFolders((data,)))


def test_a_correction_map_outside_names_the_parameter(data: Path, tmp_path: Path) -> None:
    np.save(data / "d.npy", frames())
    np.save(tmp_path / "outside" / "gain.npy", np.ones((6, 5)))
    with pytest.raises(ForbiddenReference, match=r"params.gain: the map leads to") as refused:
        open_dataset(
            str(data / "d.npy"), params={"gain": "../outside/gain.npy"}, allowed=InFolders((data,))
        )
    assert refused.value.param == "gain"
