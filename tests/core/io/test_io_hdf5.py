"""HDF5 datasets: layouts, storage (contiguous, chunked, compressed), selection and errors."""

from __future__ import annotations

import itertools
import math
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.errors import DataSetError
from apps.core.io import open_dataset
from apps.core.io.hdf5 import H5DataSet, H5Partition, chunk_cache_bytes, nav_boxes

NAV, SIG = (7, 13), (33, 47)


def write_h5(path: Path, name: str, data: np.ndarray, **options: Any) -> str:
    with h5py.File(path, "a") as f:
        f.create_dataset(name, data=data, **options)
    return str(path)


@pytest.mark.parametrize(
    ("options", "mapped"),
    [
        ({}, True),
        ({"chunks": (1, 3, 33, 47)}, True),
        ({"chunks": (5, 7, 11, 13)}, False),
        ({"chunks": (2, 13, 33, 47), "compression": "gzip", "shuffle": True}, False),
        ({"chunks": (1, 1, 33, 47), **hdf5plugin.Bitshuffle()}, True),
        ({"chunks": (1, 8, 33, 47), **hdf5plugin.LZ4()}, True),
        ({"chunks": (2, 13, 33, 47), "compression": "gzip"}, True),
    ],
    ids=["contiguous", "chunk-row", "odd-chunks", "gzip-shuffle", "bitshuffle-lz4", "lz4", "gzip"],
)
def test_it_reads_4d_datasets(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    options: dict[str, Any],
    mapped: bool,
) -> None:
    data = make_data((*NAV, *SIG), "<u2")
    path = write_h5(tmp_path / "scan.h5", "/entry/data", data, **options)

    ds = open_dataset(path)
    assert isinstance(ds, H5DataSet)
    assert (ds.nav_shape, ds.sig_shape, ds.dtype, ds.dataset) == (
        NAV,
        SIG,
        data.dtype,
        "/entry/data",
    )
    # Tiles of 9 frames and 4 partitions start and stop inside scan rows of 13.
    np.testing.assert_array_equal(read_all(ds, count=4, tile_frames=9), data.reshape(91, -1))
    part = ds.partitions(count=4)[1]
    part.read(part.start, part.start + 1)
    assert ("_raw" in part.__dict__) is mapped
    assert ("_file" in part.__dict__) is not mapped


@pytest.mark.parametrize(
    "options",
    [{}, {"chunks": (4, 33, 47)}, {"chunks": (3, 10, 20), "compression": "gzip"}],
    ids=["contiguous", "chunked", "gzip"],
)
@pytest.mark.parametrize("dtype", [">f8", "<i4", "|u1"])
def test_it_reads_3d_stacks(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    options: dict[str, Any],
    dtype: str,
) -> None:
    data = make_data((29, *SIG), dtype)
    ds = open_dataset(write_h5(tmp_path / "stack.hdf5", "frames", data, **options))
    assert (ds.nav_shape, ds.sig_shape, ds.dtype.str) == ((29,), SIG, dtype)
    frames = read_all(ds, count=3, tile_frames=4)
    assert frames.dtype.str == dtype
    np.testing.assert_array_equal(frames, data.reshape(29, -1))


def test_it_returns_c_contiguous_tiles(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((3, 4, 5, 6), ">u2")
    path = write_h5(tmp_path / "c.h5", "d", data, chunks=(2, 3, 5, 6))
    part = open_dataset(path).partitions()[0]
    tile = part.read(2, 9)
    assert tile.flags.c_contiguous and tile.shape == (7, 30) and tile.dtype == np.dtype(">u2")
    np.testing.assert_array_equal(tile, data.reshape(12, 30)[2:9])


def test_it_keeps_the_leading_dims_of_5d_datasets(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((2, 3, 5, 6, 7), "<f4")
    path = write_h5(tmp_path / "five.h5", "d", data, chunks=(1, 2, 3, 6, 7))
    ds = open_dataset(path)
    assert (ds.nav_shape, ds.sig_shape) == ((2, 3, 5), (6, 7))
    np.testing.assert_array_equal(read_all(ds, count=4, tile_frames=7), data.reshape(30, 42))


def test_it_reinterprets_a_stack_with_nav_shape(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((91, 6, 5), "<i2")
    path = write_h5(tmp_path / "stack.h5", "/a/b", data, chunks=(10, 6, 5))
    ds = open_dataset(path, params={"nav_shape": [7, 13]})
    assert (ds.nav_shape, ds.sig_shape) == ((7, 13), (6, 5))
    assert ds.params() == {"dataset": "/a/b", "nav_shape": [7, 13]}
    np.testing.assert_array_equal(read_all(ds, count=5), data.reshape(91, 30))

    again = open_dataset(ds.path, format="hdf5", params=ds.params())
    assert (again.nav_shape, again.dataset) == ((7, 13), "/a/b")


def test_it_picks_the_largest_dataset_preferring_4d(tmp_path: Path) -> None:
    path = tmp_path / "many.h5"
    write_h5(path, "/meta/flatfield", np.ones((64, 64), "<f4"))
    write_h5(path, "/meta/huge_1d", np.ones(10**5, "<u1"))
    write_h5(path, "/small4d", np.ones((2, 2, 4, 4), "<u2"))
    write_h5(path, "/z/stack", np.ones((12, 4, 4), "<u2"))
    write_h5(path, "/a/stack", np.ones((48, 4, 4), "<u2"))
    write_h5(path, "/b/cube", np.ones((6, 8, 4, 4), "<u2"))
    ds = open_dataset(str(path))
    assert (ds.dataset, ds.nav_shape) == ("/b/cube", (6, 8))
    assert ds.params() == {"dataset": "/b/cube"}


def test_it_skips_unsupported_dtypes_when_picking(tmp_path: Path) -> None:
    path = tmp_path / "c.h5"
    write_h5(path, "/complex", np.ones((20, 4, 4), "<c8"))
    write_h5(path, "/real", np.ones((5, 4, 4), "<f4"))
    assert open_dataset(str(path)).dataset == "/real"


@pytest.mark.parametrize("ext", [".h5", ".emd", ".nxs", ".hspy", ".hdf5"])
def test_it_opens_file_colon_path(
    tmp_path: Path, make_data: Callable[..., np.ndarray], ext: str
) -> None:
    data = make_data((4, 3, 5), "<u2")
    path = tmp_path / f"two{ext}"
    write_h5(path, "/big/one", np.zeros((40, 3, 5), "<u2"))
    write_h5(path, "/entry/data", data)
    ds = open_dataset(f"{path}:/entry/data")
    assert (ds.path, ds.dataset, ds.nav_shape) == (str(path), "/entry/data", (4,))
    np.testing.assert_array_equal(ds.partitions()[0].read(0, 4), data.reshape(4, 15))
    # An explicit "dataset" parameter wins over the path suffix.
    assert open_dataset(f"{path}:/entry/data", params={"dataset": "big/one"}).dataset == "/big/one"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("scan.h5:/entry/data", ("scan.h5", "/entry/data")),
        ("run:/scan.EMD:/a", ("run:/scan.EMD", "/a")),
        ("x.nxs:/", ("x.nxs", "/")),
        ("scan.h5", ("scan.h5", None)),
        ("file:///data/x.raw", ("file:///data/x.raw", None)),
        ("notes.txt:/entry", ("notes.txt:/entry", None)),
    ],
)
def test_it_splits_hdf5_paths(path: str, expected: tuple[str, str | None]) -> None:
    assert H5DataSet.split_path(path) == expected


def test_it_splits_after_an_existing_file_of_any_name(tmp_path: Path) -> None:
    (tmp_path / "scan.data").write_bytes(b"")
    assert H5DataSet.split_path(f"{tmp_path}/scan.data:/x/y") == (f"{tmp_path}/scan.data", "/x/y")


def test_it_sniffs_the_hdf5_signature() -> None:
    assert H5DataSet.sniff(b"\x89HDF\r\n\x1a\n\0\0\0")
    assert not H5DataSet.sniff(b"\x93NUMPY")
    assert not H5DataSet.sniff(b"")


def test_it_maps_data_behind_a_userblock(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((3, 4, 6, 5), ">i4")
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=1024) as f:
        f["d"] = data
    ds = open_dataset(str(path), format="hdf5")
    np.testing.assert_array_equal(read_all(ds, count=2), data.reshape(12, 30))


def test_it_follows_external_links(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((9, 8, 6), "<u4")
    write_h5(tmp_path / "data_000001.h5", "/entry/data/data", data, chunks=(1, 8, 6))
    write_h5(tmp_path / "data_000002.h5", "/entry/data/data", data[:4])
    with h5py.File(tmp_path / "master.h5", "w") as f:
        f["/entry/instrument/flatfield"] = np.ones((8, 6), "<f4")
        f["/entry/data/data_000001"] = h5py.ExternalLink("data_000001.h5", "/entry/data/data")
        f["/entry/more"] = h5py.ExternalLink("data_000002.h5", "/entry")
        f["/entry/dangling"] = h5py.ExternalLink("missing.h5", "/x")
    ds = open_dataset(str(tmp_path / "master.h5"), format="hdf5")  # detected as "arina"
    assert (ds.dataset, ds.nav_shape) == ("/entry/data/data_000001", (9,))
    np.testing.assert_array_equal(read_all(ds, count=2), data.reshape(9, 48))

    small = open_dataset(str(tmp_path / "master.h5"), params={"dataset": "/entry/more/data/data"})
    part = small.partitions()[0]
    np.testing.assert_array_equal(part.read(0, 4), data[:4].reshape(4, 48))
    assert part.__dict__["_raw"].path == str(tmp_path / "data_000002.h5")


@pytest.mark.parametrize(
    ("chunks", "storage", "expected"),
    [
        ((2, 4, 2, 3), "_file", [(15, 3), (20, 3), (23, 2), (29, 1)]),
        # Mapped: runs of 1 to 4 adjacent frames (15 | 16-17 | 18-21 | 22-23 | 24-27 | 28-29).
        ((2, 4, 4, 3), "_raw", [(15, 1), (16, 2), (20, 2), (22, 2), (24, 1), (29, 1)]),
    ],
    ids=["split-frames", "frame-boxes"],
)
def test_it_applies_a_roi_on_chunked_data(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    chunks: tuple[int, ...],
    storage: str,
    expected: list[tuple[int, int]],
) -> None:
    data = make_data((5, 6, 4, 3), "<u2")
    part = open_dataset(write_h5(tmp_path / "r.h5", "d", data, chunks=chunks)).partitions(count=2)[
        1
    ]
    roi = np.zeros(15, bool)
    roi[[0, 1, 2, 5, 6, 7, 8, 9, 14]] = True
    got = [(first, len(tile)) for first, tile in part.tiles(tile_frames=3, roi=roi)]
    assert got == expected
    for first, tile in part.tiles(tile_frames=3, roi=roi):
        np.testing.assert_array_equal(tile, data.reshape(30, 12)[first : first + len(tile)])
    assert storage in part.__dict__


@pytest.mark.parametrize("options", [{}, {"chunks": (2, 3, 4, 5)}], ids=["mapped", "chunked"])
def test_it_pickles_a_read_partition_without_handles(
    tmp_path: Path, make_data: Callable[..., np.ndarray], options: dict[str, Any]
) -> None:
    data = make_data((4, 6, 4, 5), "<f8")
    part = open_dataset(write_h5(tmp_path / "p.h5", "d", data, **options)).partitions(count=2)[1]
    first = part.read(13, 20).copy()
    assert any(k.startswith("_") for k in part.__dict__)

    state = part.__getstate__()
    assert sorted(state) == [
        "chunk_cache_bytes", "dataset", "ds_shape", "dtype", "index", "nodes", "path", "pinned",
        "sig_shape", "start", "stop",
    ]  # fmt: skip
    clone = pickle.loads(pickle.dumps(part))
    assert isinstance(clone, H5Partition)
    assert not any(k.startswith("_") for k in clone.__dict__)
    np.testing.assert_array_equal(clone.read(13, 20), first)
    np.testing.assert_array_equal(first, data.reshape(24, 20)[13:20])
    part.close()
    clone.close()
    assert not any(k in part.__dict__ for k in ("_file", "_dset", "_raw"))
    np.testing.assert_array_equal(part.read(12, 13), data.reshape(24, 20)[12:13])


def test_it_describes_partitions(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "d.h5", "/g/d", np.zeros((4, 2, 3), "<u2"))
    assert open_dataset(path).partitions(count=2)[1].describe() == {
        "index": 1, "start": 2, "stop": 4, "nodes": [], "path": path, "dataset": "/g/d",
    }  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_nav_boxes_cover_a_flat_range_with_few_hyperslabs(data: st.DataObject) -> None:
    nav = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4), label="nav"))
    n = math.prod(nav)
    start = data.draw(st.integers(0, n), label="start")
    stop = data.draw(st.integers(start, n), label="stop")
    index = np.arange(n).reshape(nav)

    boxes = nav_boxes(nav, start, stop)
    flat = [index[sel].ravel() for _, _, sel in boxes]
    assert np.concatenate([np.arange(0), *flat]).tolist() == list(range(start, stop))
    for lo, hi, sel in boxes:
        assert len(sel) == len(nav) and index[sel].size == hi - lo > 0
        assert index[sel].ravel()[0] == lo
    assert len(boxes) <= max(1, 2 * len(nav) - 1)


def test_nav_boxes_reads_whole_rows_in_one_slab() -> None:
    assert nav_boxes((7, 13), 10, 60) == [
        (10, 13, (slice(0, 1), slice(10, 13))),
        (13, 52, (slice(1, 4), slice(0, 13))),
        (52, 60, (slice(4, 5), slice(0, 8))),
    ]
    assert nav_boxes((7, 13), 26, 52) == [(26, 52, (slice(2, 4), slice(0, 13)))]
    assert nav_boxes((91,), 3, 9) == [(3, 9, (slice(3, 9),))]


def test_chunk_cache_holds_a_layer_of_chunks() -> None:
    assert chunk_cache_bytes((7, 13, 33, 47), None, 2) == 16 * 2**20
    big = chunk_cache_bytes((64, 256, 256, 256), (4, 16, 256, 256), 2)
    assert big == 2 * 16 * (4 * 16 * 256 * 256 * 2)
    assert chunk_cache_bytes((64, 256, 512, 512), (8, 16, 512, 512), 4) == 256 * 2**20


# --- errors ---------------------------------------------------------------------------------


def test_it_refuses_a_file_that_is_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_bytes(b"just text, no signature" * 10)
    with pytest.raises(DataSetError, match=f"^{path}: not an HDF5 file"):
        open_dataset(str(path), format="hdf5")


def test_it_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.h5"
    with pytest.raises(DataSetError, match=f"^{path}: cannot read the file: No such file"):
        open_dataset(f"{path}:/entry/data", format="hdf5")


def test_it_refuses_a_file_without_a_3d_dataset(tmp_path: Path) -> None:
    path = tmp_path / "flat.h5"
    write_h5(path, "/image", np.zeros((32, 32), "<u2"))
    write_h5(path, "/line", np.zeros(5, "<f4"))
    with pytest.raises(DataSetError) as err:
        open_dataset(str(path))
    assert str(err.value) == (
        f"{path}: no dataset with at least 3 dimensions (frames, sy, sx) was found; "
        "it has /image [32, 32], /line [5]."
    )


def test_it_lists_candidates_for_a_wrong_dataset_path(tmp_path: Path) -> None:
    path = tmp_path / "w.h5"
    write_h5(path, "/entry/data/data", np.zeros((2, 3, 4), "<u2"))
    write_h5(path, "/entry/flat", np.zeros((3, 4), "<u2"))
    with pytest.raises(DataSetError) as err:
        open_dataset(str(path), params={"dataset": "/entry/dat"})
    assert str(err.value) == (
        f"{path}: dataset /entry/dat was not found; datasets with 3 or more dimensions: "
        "/entry/data/data."
    )
    with pytest.raises(DataSetError, match=f"^{path}: dataset /entry is a group, not a dataset"):
        open_dataset(f"{path}:/entry")
    with pytest.raises(DataSetError, match=r"dataset /entry/flat has shape \[3, 4\]; expected at"):
        open_dataset(f"{path}:/entry/flat")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"nav_shape": [5, 5]},
            r"nav_shape \[5, 5\] does not fit the dataset of shape \[24, 3, 4\]",
        ),
        ({"nav_shape": [2, 3, 5]}, "expected dimensions whose product is 24 frames"),
        ({"nav_shape": [0, 24]}, r"nav_shape must be positive integers, got \[0, 24\]"),
        ({"chunks": 4}, r"unknown HDF5 parameters \['chunks'\]; expected dataset, nav_shape"),
    ],
)
def test_it_refuses_bad_params(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    path = write_h5(tmp_path / "s.h5", "/s", np.zeros((24, 3, 4), "<u2"))
    with pytest.raises(DataSetError, match=message) as err:
        open_dataset(path, params=params)
    assert str(err.value).startswith(path)


@pytest.mark.parametrize("dtype", ["<c8", "|b1", "<i8", "<f2"])
def test_it_refuses_unsupported_dtypes(tmp_path: Path, dtype: str) -> None:
    path = write_h5(tmp_path / "t.h5", "/d", np.zeros((2, 3, 4), dtype))
    with pytest.raises(
        DataSetError, match=f"^{path} \\(dataset /d\\): dtype '.{dtype[1:]}' is not"
    ):
        open_dataset(path)


@pytest.mark.parametrize("options", [{}, {"chunks": (1, 1, 8, 6)}], ids=["mapped", "chunked"])
def test_it_names_file_and_partition_when_truncated_after_opening(
    tmp_path: Path, make_data: Callable[..., np.ndarray], options: dict[str, Any]
) -> None:
    data = make_data((6, 5, 8, 6), "<f4")
    path = write_h5(tmp_path / "t.h5", "/data", data, **options)
    ds = open_dataset(path)
    read_before = ds.partitions(count=3)[2]
    np.testing.assert_array_equal(read_before.read(20, 22), data.reshape(30, 48)[20:22])
    os.truncate(path, os.stat(path).st_size // 2)

    for part in (read_before, ds.partitions(count=3)[2]):
        with pytest.raises(DataSetError) as err:
            part.read(24, 30)
        assert str(err.value).startswith(f"{path}: ")
        assert "partition 2 (frames 20-29)" in str(err.value)


def test_it_keeps_partitions_of_one_file_independent(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((6, 4, 3, 5), "<u2")
    parts = open_dataset(write_h5(tmp_path / "s.h5", "d", data, chunks=(1, 4, 3, 5))).partitions(
        count=3
    )
    frames = data.reshape(24, 15)
    for part in parts:
        part.read(part.start, part.start + 1)
    parts[0].close()
    np.testing.assert_array_equal(parts[1].read(8, 16), frames[8:16])
    parts[2].close()
    np.testing.assert_array_equal(parts[0].read(0, 8), frames[0:8])
    np.testing.assert_array_equal(parts[2].read(20, 24), frames[20:24])


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ((1, 5, 3, 1), " of dataset /d: {path} is gone (No such file or directory)."),
        ((1, 5, 3, 2), ": No such file or directory."),  # mapped
    ],
    ids=["split-frames", "frame-rows"],
)
def test_it_names_file_and_partition_when_the_file_is_deleted_after_reading(
    tmp_path: Path, make_data: Callable[..., np.ndarray], chunks: tuple[int, ...], reason: str
) -> None:
    data = make_data((4, 5, 3, 2), "<u2")
    path = write_h5(tmp_path / "gone.h5", "d", data, chunks=chunks)
    part = open_dataset(path).partitions(count=2)[0]
    part.read(0, 2)
    os.unlink(path)
    with pytest.raises(DataSetError) as err:
        part.read(2, 4)
    assert str(err.value) == (
        f"{path}: cannot read partition 0 (frames 0-9)" + reason.format(path=path)
    )


@pytest.mark.parametrize("dtype", ["<u2", ">f4"])
def test_it_maps_frame_chunks_written_in_any_order(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    dtype: str,
) -> None:
    data = make_data((*NAV, *SIG), dtype)
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("data", shape=data.shape, dtype=dtype, chunks=(1, 1, *SIG))
        # Backwards, in an interleaved order: the chunks do not follow each other in the file.
        for i in [*range(90, 40, -1), *range(0, 41)]:
            dset[np.unravel_index(i, NAV)] = data[np.unravel_index(i, NAV)]

    ds = open_dataset(str(path))
    np.testing.assert_array_equal(read_all(ds, count=4, tile_frames=9), data.reshape(91, -1))
    part = ds.partitions(count=4)[1]
    part.read(part.start, part.start + 1)
    assert type(part.__dict__["_raw"]).__name__ == "ChunkMapPartition"


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((*NAV, *SIG), (3, 5, *SIG)),  # edge chunks in both scan dimensions
        ((*NAV, *SIG), (8, 20, *SIG)),  # one chunk larger than the scan
        ((2, 4, 12, *SIG), (1, 3, 5, *SIG)),  # 5-d: three leading dimensions
        ((91, *SIG), (4, *SIG)),  # a stack of frames
    ],
    ids=["edges", "oversized", "5d", "stack"],
)
def test_it_maps_multi_frame_chunks_written_in_any_order(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
) -> None:
    data = make_data(shape, ">f4")
    path = tmp_path / "boxes.h5"
    with h5py.File(path, "w") as f:
        growable = (None,) * (len(shape) - 2) + SIG
        dset = f.create_dataset("data", shape=shape, dtype=">f4", chunks=chunks, maxshape=growable)
        # One chunk at a time, last first: chunks are allocated backwards through the file.
        grid = [range(0, n, c) for n, c in zip(shape[:-2], chunks[:-2], strict=True)]
        for corner in reversed(list(itertools.product(*grid))):
            box = tuple(slice(o, o + c) for o, c in zip(corner, chunks, strict=False))
            dset[box] = data[box]

    ds = open_dataset(str(path))
    frames = data.reshape(-1, math.prod(SIG))
    np.testing.assert_array_equal(read_all(ds, count=4, tile_frames=9), frames)
    part = ds.partitions(count=4)[1]
    np.testing.assert_array_equal(
        part.read(part.start + 1, part.stop), frames[part.start + 1 : part.stop]
    )
    assert type(part.__dict__["_raw"]).__name__ == "ChunkMapPartition"


def test_it_tiles_runs_of_adjacent_frames_as_views_and_gathers_short_runs(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((*NAV, *SIG), "<f4")
    frames = data.reshape(91, -1)
    rows = write_h5(tmp_path / "rows.h5", "d", data, chunks=(1, 13, *SIG))
    boxes = write_h5(tmp_path / "boxes.h5", "d", data, chunks=(3, 2, *SIG))

    # Scan rows written in order follow each other: one run, every tile a view of the map.
    tiles = list(open_dataset(rows).partitions(count=2)[1].tiles(tile_frames=8))
    assert [(first, len(t)) for first, t in tiles] == [(45 + 8 * i, 8) for i in range(5)] + [
        (85, 6)
    ]
    assert not any(t.flags.owndata for _, t in tiles)
    # Boxes of 3 x 2 frames: runs of 2, gathered into full tiles, one copy per run.
    tiles = list(open_dataset(boxes).partitions(count=2)[1].tiles(tile_frames=8))
    assert [len(t) for _, t in tiles] == [8, 8, 8, 8, 8, 6]
    assert all(t.flags.owndata for _, t in tiles)
    for first, tile in tiles:
        np.testing.assert_array_equal(tile, frames[first : first + len(tile)])


def test_it_reads_frame_chunks_through_hdf5_when_one_is_missing(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((*NAV, *SIG), "<u2")
    path = tmp_path / "holes.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("data", shape=data.shape, dtype="<u2", chunks=(1, 1, *SIG))
        dset[:6] = data[:6]  # the last row is never written: its chunks are not allocated
    expected = data.copy()
    expected[6:] = 0

    ds = open_dataset(str(path))
    np.testing.assert_array_equal(read_all(ds, count=2, tile_frames=9), expected.reshape(91, -1))
    part = ds.partitions(count=2)[0]
    part.read(part.start, part.start + 1)
    assert "_file" in part.__dict__
