"""One memory map per data file and process, kept between runs and replaced when the file is."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.errors import DataSetError
from apps.core.executor import InlineExecutor
from apps.core.io import mapping, open_dataset
from apps.core.io.base import DataSet


@pytest.fixture(autouse=True)
def fresh_maps() -> Iterator[None]:
    mapping.forget()
    yield
    mapping.forget()


def write(path: Path, data: np.ndarray) -> np.ndarray:
    data.tofile(path)
    return data


def frames(seed: int, n: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, 8), dtype=np.float32)


def raw(path: Path, n: int = 12) -> DataSet:
    params = {"nav_shape": [n], "sig_shape": [8, 8], "dtype": "<f4"}
    return open_dataset(str(path), format="raw", params=params)


def test_partitions_and_runs_share_one_map_per_file(tmp_path: Path) -> None:
    path = tmp_path / "scan.raw"
    data = write(path, frames(1))
    ds = raw(path)
    first, second = ds.partitions(count=2)
    a, b = first.read(0, 6), second.read(6, 12)
    np.testing.assert_array_equal(a, data[:6].reshape(6, 64))
    np.testing.assert_array_equal(b, data[6:].reshape(6, 64))
    whole = mapping.file_map(str(path))
    assert np.shares_memory(a, whole) and np.shares_memory(b, whole)
    first.close()
    # a new partition of the file (the next run) reads the same mapping
    again = raw(path).partitions(count=2)[0].read(0, 6)
    assert np.shares_memory(again, whole)
    assert not again.flags.writeable


def test_a_replaced_file_is_mapped_again(tmp_path: Path) -> None:
    path = tmp_path / "scan.raw"
    write(path, frames(1))
    sum_of = make_analysis("sum", {}, nav_shape=(12,), sig_shape=(8, 8), dtype=np.float32)
    before = InlineExecutor().run(raw(path), sum_of).results["sum"]
    replacement = frames(2)
    tmp = tmp_path / "new.raw"
    write(tmp, replacement)
    os.replace(tmp, path)  # a new inode under the same name
    after = InlineExecutor().run(raw(path), sum_of).results["sum"]
    np.testing.assert_allclose(after, replacement.astype(np.float64).sum(axis=0), rtol=1e-6)
    assert not np.allclose(before, after)


def test_a_file_rewritten_in_place_reads_the_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "scan.raw"
    write(path, frames(1))
    p = raw(path).partitions()[0]
    p.read(0, 12)
    p.close()
    replacement = frames(3)
    with open(path, "r+b") as f:  # same inode and size
        f.write(replacement.tobytes())
    got = raw(path).partitions()[0].read(0, 12)
    np.testing.assert_array_equal(got, replacement.reshape(12, 64))


def test_a_file_grown_or_truncated_gets_a_new_map(tmp_path: Path) -> None:
    path = tmp_path / "scan.raw"
    write(path, frames(1))
    old = mapping.file_map(str(path))
    with open(path, "ab") as f:
        f.write(frames(4, n=2).tobytes())
    grown = mapping.file_map(str(path))
    assert grown.size == old.size + 2 * 64 * 4
    os.truncate(path, 100)
    with pytest.raises(DataSetError, match="too short: it has 100 bytes, 256 are needed"):
        mapping.map_view(str(path), np.float32, 0, (64,))


def test_least_recently_used_maps_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mapping, "MAX_FILES", 2)
    paths = [tmp_path / f"f{i}.raw" for i in range(3)]
    for i, path in enumerate(paths):
        write(path, frames(i, n=1))
    kept = mapping.file_map(str(paths[0]))
    mapping.file_map(str(paths[1]))
    mapping.file_map(str(paths[0]))  # used again: f1 is now the oldest
    mapping.file_map(str(paths[2]))
    assert list(mapping._maps) == [str(paths[0]), str(paths[2])]
    assert mapping.file_map(str(paths[0])) is kept
    # a view outlives its map being dropped
    view = mapping.map_view(str(paths[2]), np.float32, 0, (8, 8))
    mapping.forget()
    np.testing.assert_array_equal(view, frames(2, n=1)[0])


def test_maps_past_the_byte_budget_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mapping, "MAX_BYTES", 300)
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    write(a, frames(1, n=1))  # 256 bytes each
    write(b, frames(2, n=1))
    mapping.file_map(str(a))
    mapping.file_map(str(b))
    assert list(mapping._maps) == [str(b)]  # the newest stays, even alone over budget


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.raw"
    empty.touch()
    assert mapping.file_map(str(empty)).size == 0
    with pytest.raises(DataSetError, match=r"missing\.raw: cannot read the data file"):
        mapping.file_map(str(tmp_path / "missing.raw"))


def test_a_lower_budget_drops_maps_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "MAX_BYTES", 10_000)
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    write(a, frames(1, n=1))
    write(b, frames(2, n=1))
    mapping.file_map(str(a))
    mapping.file_map(str(b))
    assert len(mapping._maps) == 2
    mapping.limit_bytes(400)
    assert mapping.MAX_BYTES == 400 and list(mapping._maps) == [str(b)]
    mapping.limit_bytes(5_000)  # only ever lowered
    assert mapping.MAX_BYTES == 400


def test_maps_of_deleted_files_are_dropped_at_the_next_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone, kept = tmp_path / "gone.raw", tmp_path / "kept.raw"
    write(gone, frames(1, n=1))
    write(kept, frames(2, n=1))
    monkeypatch.setattr(mapping, "SWEEP_SECONDS", 3600.0)
    mapping.file_map(str(gone))
    mapping.file_map(str(kept))
    gone.unlink()  # its map would keep the disk space in use
    mapping.file_map(str(kept))
    assert str(gone) in mapping._maps  # not swept yet
    monkeypatch.setattr(mapping, "_next_sweep", 0.0)
    mapping.file_map(str(kept))
    assert list(mapping._maps) == [str(kept)]


def rss_file() -> int:
    """Bytes of file pages mapped into this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no RssFile in /proc/self/status")


def big_frames() -> np.ndarray:
    """64 MiB: 512 frames of 256 x 256 uint16 with a pattern."""
    frames = np.arange(512 * 256 * 256, dtype=np.uint32).reshape(512, 256, 256) % 4099
    return frames.astype("<u2")


def big_raw(path: Path) -> tuple[DataSet, np.ndarray]:
    """:func:`big_frames` in a raw file; and their sum frame."""
    frames = big_frames()
    frames.tofile(path)
    params = {"nav_shape": [512], "sig_shape": [256, 256], "dtype": "<u2"}
    return open_dataset(str(path), format="raw", params=params), frames.sum(axis=0, dtype=np.uint64)


def big_h5(path: Path) -> tuple[DataSet, np.ndarray]:
    """:func:`big_frames` in an HDF5 file, one uncompressed chunk per frame (memory-mapped)."""
    frames = big_frames()
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=frames, chunks=(1, 256, 256))
    return open_dataset(str(path)), frames.sum(axis=0, dtype=np.uint64)


@pytest.mark.parametrize(("budget", "kept"), [(4 * 2**20, False), (2**30, True)])
@pytest.mark.parametrize("make", [big_raw, big_h5])
def test_read_pages_beyond_the_budget_leave_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int, kept: bool, make: Any
) -> None:
    monkeypatch.setattr(mapping, "RESIDENT_BYTES", budget)
    ds, expected = make(tmp_path / "big")
    sum_of = make_analysis("sum", {}, nav_shape=(512,), sig_shape=(256, 256), dtype=np.uint16)
    before = rss_file()
    for _run in range(2):  # the second run maps the advised-away pages in again
        run = InlineExecutor().run(ds, sum_of)
        np.testing.assert_array_equal(run.results["sum"], expected)
        assert mapping.resident_bytes() <= budget
    grown = rss_file() - before
    if kept:  # the measure sees mapped pages: all 64 MiB stay in
        assert mapping.resident_bytes() == 64 * 2**20
        assert grown >= 60 * 2**20
    else:  # the budget, one tile (a quarter of it) and a few pages at the ends of ranges
        assert grown <= budget + budget // 4 + 2**20


def test_a_lower_resident_budget_advises_away_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, _expected = big_raw(tmp_path / "big.raw")
    (part,) = ds.partitions(count=1)
    for _first, tile in part.tiles(tile_frames=64):
        assert int(tile.sum(dtype=np.uint64)) > 0  # every page read
    assert mapping.resident_bytes() == 64 * 2**20
    before = rss_file()
    monkeypatch.setattr(mapping, "RESIDENT_BYTES", mapping.RESIDENT_BYTES)
    mapping.limit_resident(8 * 2**20)
    assert mapping.resident_bytes() <= 8 * 2**20
    assert before - rss_file() >= 48 * 2**20


def empad(folder: Path) -> tuple[DataSet, np.ndarray, int]:
    from tests.core.io.test_io_empad import write_empad

    frames = np.random.default_rng(3).normal(100, 30, size=(40, 128, 128)).astype("<f4")
    return open_dataset(str(write_empad(folder, frames, scan=(5, 8)))), frames, 130 * 128 * 4


def mib(folder: Path) -> tuple[DataSet, np.ndarray, int]:
    from tests.core.io.test_io_mib import write_hdr, write_mib

    frames = np.random.default_rng(4).integers(0, 4096, size=(40, 24, 40), dtype=np.uint16)
    write_mib(folder / "scan_1.mib", frames[:25], first=1)
    write_mib(folder / "scan_2.mib", frames[25:], first=26)
    write_hdr(folder / "scan.hdr", 40, 8)
    return open_dataset(str(folder / "scan_1.mib")), frames, 384 + 24 * 40 * 2


def h5_frame_chunks(folder: Path) -> tuple[DataSet, np.ndarray, int]:
    frames = np.random.default_rng(5).integers(0, 4096, size=(40, 24, 40), dtype=np.uint16)
    with h5py.File(folder / "scan.h5", "w") as f:
        f.create_dataset("data", data=frames.reshape(5, 8, 24, 40), chunks=(1, 1, 24, 40))
    return open_dataset(str(folder / "scan.h5")), frames, 24 * 40 * 2


@pytest.mark.parametrize("make", [empad, mib, h5_frame_chunks])
def test_every_mapped_format_releases_its_read_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    ds, frames, stride = make(tmp_path)
    (part,) = ds.partitions(count=1)
    got = np.concatenate([tile for _first, tile in part.tiles(tile_frames=7)])
    np.testing.assert_array_equal(got, frames.reshape(40, -1))
    assert mapping.resident_bytes() == 40 * stride  # every frame's bytes, once
    monkeypatch.setattr(mapping, "RESIDENT_BYTES", mapping.RESIDENT_BYTES)
    mapping.limit_resident(0)  # all advised away; the data reads the same again
    assert mapping.resident_bytes() == 0
    again = np.concatenate([tile.copy() for _first, tile in part.tiles(tile_frames=7)])
    np.testing.assert_array_equal(again, frames.reshape(40, -1))


def test_hdf5_small_chunks_release_one_range_per_tile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunks of 2 x 2 scan positions: a tile of one scan row reads half of each chunk in a row
    frames = np.random.default_rng(6).integers(0, 4096, size=(8, 8, 6, 5), dtype=np.uint16)
    with h5py.File(tmp_path / "small.h5", "w") as f:
        f.create_dataset("data", data=frames, chunks=(2, 2, 6, 5))
    (part,) = open_dataset(str(tmp_path / "small.h5")).partitions(count=1)
    got = np.concatenate([tile.copy() for _first, tile in part.tiles(tile_frames=8)])
    np.testing.assert_array_equal(got, frames.reshape(64, 30))
    # each scan row: 4 chunks of 4 frames, the row's 2 frames and a gap of 2 in each, as one
    # range (the last gap is not read); the next row reads the gaps: a range of its own
    frame = 6 * 5 * 2
    released = list(mapping._resident)
    assert len(released) == 8
    assert all(nbytes == 14 * frame for _path, _offset, nbytes in released)
    monkeypatch.setattr(mapping, "RESIDENT_BYTES", mapping.RESIDENT_BYTES)
    mapping.limit_resident(0)
    again = np.concatenate([tile.copy() for _first, tile in part.tiles(tile_frames=8)])
    np.testing.assert_array_equal(again, frames.reshape(64, 30))
