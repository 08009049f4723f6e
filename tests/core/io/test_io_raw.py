"""Raw frames: the libertem-raw sidecar (one file and partitioned) and headerless raw files."""

from __future__ import annotations

import itertools
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core.errors import DataSetError
from apps.core.io import open_dataset
from apps.core.io.mapped import MappedPartition
from apps.core.io.raw import RawDataSet, write_sidecar

NAV, SIG = (7, 13), (33, 47)
DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"]
ALL_DTYPES = [np.dtype(d).newbyteorder(order).str for d in DTYPES for order in "<>"]


def sidecar_doc(data: np.ndarray, **rest: Any) -> dict[str, Any]:
    return {
        "format": "libertem-raw",
        "version": 1,
        "dtype": data.dtype.str,
        "nav_shape": list(data.shape[:-2]),
        "sig_shape": list(data.shape[-2:]),
        **rest,
    }


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_one_file(folder: Path, data: np.ndarray, *, offset: int = 0) -> Path:
    (folder / "data.raw").write_bytes(b"H" * offset + data.tobytes())
    return write_json(folder / "scan.json", sidecar_doc(data, path="data.raw", offset=offset))


def write_partitioned(folder: Path, data: np.ndarray, edges: list[int]) -> Path:
    frames = data.reshape(-1, *data.shape[-2:])
    parts = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        name = f"part-{i:05d}.raw"
        (folder / name).write_bytes(frames[lo:hi].tobytes())
        parts.append({"path": name, "start": lo, "stop": hi, "nodes": [f"node-{i % 2}"]})
    return write_json(folder / "scan.json", sidecar_doc(data, partitions=parts))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_it_reads_every_dtype_from_a_one_file_sidecar(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    dtype: str,
) -> None:
    data = make_data((*NAV, *SIG), dtype)
    ds = open_dataset(str(write_one_file(tmp_path, data, offset=123)))

    assert (ds.format, ds.nav_shape, ds.sig_shape, ds.dtype) == ("raw", NAV, SIG, np.dtype(dtype))
    frames = read_all(ds, count=4, tile_frames=6)
    assert frames.dtype.str == dtype
    np.testing.assert_array_equal(frames, data.reshape(91, 33 * 47))


def test_it_reads_partition_files_with_their_nodes(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((*NAV, *SIG), ">i4")
    ds = open_dataset(str(write_partitioned(tmp_path, data, [0, 30, 31, 91])))

    parts = ds.partitions()
    assert [(p.start, p.stop) for p in parts] == [(0, 30), (30, 31), (31, 91)]
    assert [p.nodes for p in parts] == [("node-0",), ("node-1",), ("node-0",)]
    assert parts[2].describe()["path"] == str(tmp_path / "part-00002.raw")
    np.testing.assert_array_equal(read_all(ds), data.reshape(91, -1))
    assert ds.params() == {}


def test_it_splits_a_large_partition_file_further(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((10, 4, 6), "<u2")
    ds = open_dataset(str(write_partitioned(tmp_path, data, [0, 7, 10])))
    parts = ds.partitions(target_bytes=3 * 48)
    assert [(p.start, p.stop) for p in parts] == [(0, 2), (2, 4), (4, 7), (7, 10)]
    assert [p.index for p in parts] == [0, 1, 2, 3]
    np.testing.assert_array_equal(parts[2].read(4, 7), data[4:7].reshape(3, -1))


def test_it_resolves_file_uris_and_unordered_partitions(
    tmp_path: Path, make_data: Callable[..., np.ndarray], read_all: Callable[..., np.ndarray]
) -> None:
    data = make_data((5, 3, 2), "<f4")
    (tmp_path / "my data").mkdir()
    (tmp_path / "my data" / "b.raw").write_bytes(data[2:].tobytes())
    (tmp_path / "a.raw").write_bytes(data[:2].tobytes())
    uri = (tmp_path / "my data" / "b.raw").as_uri()
    assert "%20" in uri
    parts = [{"path": uri, "start": 2, "stop": 5}, {"path": "a.raw", "start": 0, "stop": 2}]
    ds = open_dataset(str(write_json(tmp_path / "s.json", sidecar_doc(data, partitions=parts))))
    np.testing.assert_array_equal(read_all(ds, tile_frames=2), data.reshape(5, -1))


@pytest.mark.parametrize("dtype", ["<u2", ">f8", "|u1"])
def test_it_reads_a_headerless_file_with_params(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    dtype: str,
) -> None:
    data = make_data((6, 5, 9, 7), dtype)
    path = tmp_path / "scan.bin"
    path.write_bytes(b"\0" * 64 + data.tobytes())
    params = {"nav_shape": [6, 5], "sig_shape": [9, 7], "dtype": dtype, "offset": 64}

    ds = open_dataset(str(path), format="raw", params=params)
    np.testing.assert_array_equal(read_all(ds, count=7, tile_frames=4), data.reshape(30, -1))
    assert ds.params() == {**params, "dtype": np.dtype(dtype).str}
    again = open_dataset(ds.path, format="raw", params=ds.params())
    assert (again.nav_shape, again.sig_shape, again.dtype) == ((6, 5), (9, 7), np.dtype(dtype))


def test_it_describes_the_dataset(tmp_path: Path, make_data: Callable[..., np.ndarray]) -> None:
    data = make_data((2, 3, 4, 5), ">u2")
    ds = open_dataset(str(write_one_file(tmp_path, data)))
    assert ds.describe() == {
        "format": "raw",
        "path": str(tmp_path / "scan.json"),
        "nav_shape": [2, 3],
        "sig_shape": [4, 5],
        "dtype": ">u2",
        "params": {},
    }
    assert (ds.n_frames, ds.frame_size, ds.frame_bytes, ds.nbytes) == (6, 20, 40, 240)


def test_it_pickles_a_partition_without_its_memory_map(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((4, 6, 5, 3), "<i2")
    part = open_dataset(str(write_one_file(tmp_path, data, offset=8))).partitions(count=2)[1]
    first = part.read(13, 20).copy()
    assert "_map" in part.__dict__

    state = part.__getstate__()
    assert not [k for k in state if k.startswith("_")]
    clone = pickle.loads(pickle.dumps(part))
    assert "_map" not in clone.__dict__
    assert (clone.path, clone.offset, clone.start, clone.stop) == (part.path, 8 + 12 * 30, 12, 24)
    np.testing.assert_array_equal(clone.read(13, 20), first)
    np.testing.assert_array_equal(first, data.reshape(24, -1)[13:20])


def test_it_reopens_after_close(tmp_path: Path, make_data: Callable[..., np.ndarray]) -> None:
    data = make_data((3, 4, 4), "<u4")
    part = open_dataset(str(write_one_file(tmp_path, data))).partitions()[0]
    part.read(0, 3)
    part.close()
    assert "_map" not in part.__dict__
    np.testing.assert_array_equal(part.read(1, 2), data[1].reshape(1, 16))


def test_it_writes_a_sidecar_atomically(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((4, 2, 3), "<u2")
    (tmp_path / "p0.raw").write_bytes(data.tobytes())
    doc = sidecar_doc(data, partitions=[{"path": "p0.raw", "start": 0, "stop": 4}])
    del doc["format"], doc["version"]
    write_sidecar(tmp_path / "scan.json", doc)

    assert sorted(os.listdir(tmp_path)) == ["p0.raw", "scan.json"]
    written = json.loads((tmp_path / "scan.json").read_text())
    assert (written["format"], written["version"]) == ("libertem-raw", 1)
    ds = RawDataSet.open(str(tmp_path / "scan.json"))
    np.testing.assert_array_equal(ds.partitions()[0].read(0, 4), data.reshape(4, 6))


# --- errors ---------------------------------------------------------------------------------


def bad_sidecar(tmp_path: Path, **changes: Any) -> str:
    data = np.zeros((4, 3, 2), "<u2")
    (tmp_path / "data.raw").write_bytes(data.tobytes())
    doc = {**sidecar_doc(data, path="data.raw"), **changes}
    return str(write_json(tmp_path / "scan.json", {k: v for k, v in doc.items() if v is not None}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "other"}, 'not a libertem-raw sidecar \\("format" must be "libertem-raw"\\)'),
        ({"version": 2}, "sidecar version 2 is not supported; expected 1"),
        ({"dtype": "<u9"}, "unknown dtype '<u9'"),
        ({"dtype": "<c16"}, "dtype '<c16' is not supported"),
        ({"dtype": None}, "dtype is missing"),
        ({"nav_shape": [4, 0]}, r"nav_shape must be positive integers, got \[4, 0\]"),
        ({"sig_shape": [6]}, r"sig_shape must be 2 positive integers, got \[6\]"),
        ({"path": None}, 'the sidecar needs either "path" or "partitions"'),
        ({"offset": -1}, "offset must be a non-negative integer, got -1"),
        ({"nav_shape": [5]}, r"data.raw: file has 48 bytes, but 60 were expected"),
        ({"nav_shape": [3]}, r"data.raw: file has 48 bytes, but 36 were expected"),
        ({"path": "nope.raw"}, "nope.raw: cannot read the data file: No such file or directory"),
        ({"path": "hdfs://node/x.raw"}, "storage URI scheme 'hdfs' is not readable here"),
    ],
)
def test_it_refuses_a_bad_sidecar(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = bad_sidecar(tmp_path, **changes)
    with pytest.raises(DataSetError, match=message) as err:
        open_dataset(path)
    assert str(tmp_path) in str(err.value)


def test_it_refuses_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "scan.json"
    path.write_text('{"format": "libertem-raw", "version": 1,', encoding="utf-8")
    with pytest.raises(DataSetError, match=f"^{path}: the sidecar is not valid JSON"):
        open_dataset(str(path))


def test_it_refuses_a_missing_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "gone.json"
    with pytest.raises(DataSetError, match=f"^{path}: cannot read the sidecar: No such file"):
        RawDataSet.open(str(path))


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([(0, 2), (3, 4)], r"part-1.raw starts at frame 3, expected 2 \(a gap\)"),
        ([(0, 3), (2, 4)], r"part-1.raw starts at frame 2, expected 3 \(an overlap\)"),
        ([(1, 4)], r"part-0.raw starts at frame 1, expected 0 \(a gap\)"),
        ([(0, 2), (2, 3)], r"partitions cover 3 frames, but nav_shape \[4\] has 4"),
        ([(0, 2), (2, 5)], r"partitions cover 5 frames, but nav_shape \[4\] has 4"),
        ([(0, 2), (2, 2)], "partition 1 must have integers 0 <= start < stop, got 2, 2"),
        ([(0, 2), (True, 4)], "partition 1 must have integers 0 <= start < stop, got True, 4"),
    ],
)
def test_it_refuses_partitions_with_gaps_or_overlaps(
    tmp_path: Path, edges: list[tuple[int, int]], message: str
) -> None:
    parts = []
    for i, (lo, hi) in enumerate(edges):
        (tmp_path / f"part-{i}.raw").write_bytes(b"\0" * max(0, hi - lo) * 12)
        parts.append({"path": f"part-{i}.raw", "start": lo, "stop": hi})
    doc = sidecar_doc(np.zeros((4, 3, 2), "<u2"), partitions=parts)
    path = write_json(tmp_path / "scan.json", doc)
    with pytest.raises(DataSetError, match=message) as err:
        open_dataset(str(path))
    assert str(err.value).startswith(str(path))


@pytest.mark.parametrize(
    ("partitions", "message"),
    [
        ([], '"partitions" must be a non-empty list'),
        ([{"path": "a.raw", "start": 0}], 'partition 0 needs "path", "start" and "stop"'),
        ([{"path": "", "start": 0, "stop": 4}], "a partition path must be a non-empty string"),
        ([{"path": "a.raw", "start": 0, "stop": 4, "nodes": "n1"}], '"nodes" must be a list'),
    ],
)
def test_it_refuses_malformed_partition_entries(
    tmp_path: Path, partitions: list[Any], message: str
) -> None:
    path = bad_sidecar(tmp_path, path=None, partitions=partitions)
    with pytest.raises(DataSetError, match=message):
        open_dataset(path)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nav_shape": [2], "dtype": "<u2"}, "a headerless raw file needs sig_shape"),
        (
            {"nav_shape": [2], "sig_shape": [3, 2], "dtype": "<u2", "x": 1},
            r"unknown raw parameters \['x'\]",
        ),
        (
            {"nav_shape": [2], "sig_shape": [3, 2], "dtype": "<u2"},
            "file has 48 bytes, but 24 were expected",
        ),
        (
            {"nav_shape": [4], "sig_shape": [3, 2], "dtype": "<u2", "offset": 2},
            "but 50 were expected",
        ),
    ],
)
def test_it_refuses_bad_headerless_params(
    tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\0" * 48)
    with pytest.raises(DataSetError, match=message) as err:
        open_dataset(str(path), format="raw", params=params)
    assert str(path) in str(err.value)


def test_it_takes_no_params_with_a_sidecar(tmp_path: Path) -> None:
    path = bad_sidecar(tmp_path)
    with pytest.raises(DataSetError, match="a sidecar describes itself"):
        open_dataset(path, params={"dtype": "<u2"})


def test_it_names_file_and_partition_when_truncated_after_opening(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((6, 4, 5), "<u2")
    ds = open_dataset(str(write_one_file(tmp_path, data)))
    first, _, last = ds.partitions(count=3)
    np.testing.assert_array_equal(last.read(4, 6), data[4:].reshape(2, 20))  # mapped already
    os.truncate(tmp_path / "data.raw", 3 * 40)

    np.testing.assert_array_equal(first.read(0, 2), data[:2].reshape(2, 20))
    for part in (last, ds.partitions(count=3)[1]):
        with pytest.raises(DataSetError) as err:
            part.read(part.start, part.stop)
        assert str(tmp_path / "data.raw") in str(err.value)
        assert part.label in str(err.value)
        assert "it has 120 bytes" in str(err.value)


def test_it_names_file_and_partition_when_the_file_is_gone(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((6, 4, 5), "<u2")
    ds = open_dataset(str(write_partitioned(tmp_path, data, [0, 3, 6])))
    (tmp_path / "part-00001.raw").unlink()
    part = ds.partitions()[1]
    assert isinstance(part, MappedPartition)
    with pytest.raises(DataSetError, match="No such file or directory") as err:
        list(part.tiles(tile_frames=2))
    assert str(err.value).startswith(
        f"{tmp_path / 'part-00001.raw'}: cannot read partition 1 (frames 3-5)"
    )
