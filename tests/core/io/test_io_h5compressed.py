"""Compressed HDF5 chunks decoded by the Core (bitshuffle/LZ4, LZ4, gzip), against numpy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

from apps.core import kernels
from apps.core.analyses import make_analysis
from apps.core.errors import DataSetError
from apps.core.executor import InlineExecutor
from apps.core.io import h5compressed, open_dataset
from apps.core.io.h5compressed import CompressedChunkPartition, run_box
from apps.core.io.hdf5 import H5DataSet

CODECS = {
    "bslz4": hdf5plugin.Bitshuffle(cname="lz4"),
    "lz4": hdf5plugin.LZ4(),
    "gzip": {"compression": "gzip"},
}


def write(path: Path, data: np.ndarray, chunks: tuple[int, ...] | None, options: dict) -> str:
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data, chunks=chunks, **options)
    return str(path)


def storage(ds: H5DataSet) -> object:
    part = ds.partitions(count=1)[0]
    part.read(0, 1)
    return part.__dict__.get("_raw")


def compressible(make_data: Callable[..., np.ndarray], shape: tuple, dtype: str) -> np.ndarray:
    """Counts as a detector gives them: mostly small, some of the dtype's full range."""
    data = make_data(shape, dtype)
    return np.where(np.arange(data.size).reshape(shape) % 7 == 0, data, data % 5).astype(dtype)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((6, 9, 20, 24), (1, 1, 20, 24)),  # one frame per chunk (Arina, Eiger)
        ((43, 20, 24), (8, 20, 24)),  # 8 frames per chunk, the last one short
        ((6, 9, 20, 24), (1, 8, 20, 24)),  # 8 along the scan row: edge chunks are padded
        ((6, 9, 20, 24), (2, 9, 20, 24)),  # two whole scan rows
    ],
    ids=["frame", "8-frames", "8-in-row", "rows"],
)
def test_chunks_of_whole_frames_are_decoded_by_the_core(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    codec: str,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
) -> None:
    data = compressible(make_data, shape, "<u2")
    ds = open_dataset(write(tmp_path / "c.h5", data, chunks, CODECS[codec]))
    flat = data.reshape(-1, 20 * 24)
    assert isinstance(storage(ds), CompressedChunkPartition)
    # Partitions and tiles that start and stop inside chunks; tiles smaller than a chunk.
    for count, tile in [(1, 5), (3, 7), (4, 3), (2, 64)]:
        np.testing.assert_array_equal(read_all(ds, count=count, tile_frames=tile), flat)
    part = ds.partitions(count=3)[1]
    np.testing.assert_array_equal(
        part.read(part.start + 1, part.stop - 1), flat[part.start + 1 : part.stop - 1]
    )
    roi = np.zeros(part.n_frames, bool)
    roi[[0, 3, 4, 5, part.n_frames - 1]] = True
    seen = {first + i for first, t in part.tiles(tile_frames=2, roi=roi) for i in range(len(t))}
    assert seen == {part.start + i for i in np.flatnonzero(roi)}
    for first, tile in part.tiles(tile_frames=2, roi=roi):
        np.testing.assert_array_equal(tile, flat[first : first + len(tile)])


@pytest.mark.parametrize("dtype", ["<u1", "<u4", "<i2", "<f4"])
def test_bitshuffle_transposes_in_the_element_size_of_the_data(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    dtype: str,
) -> None:
    data = make_data((13, 16, 12), dtype)
    ds = open_dataset(write(tmp_path / "c.h5", data, (1, 16, 12), CODECS["bslz4"]))
    assert isinstance(storage(ds), CompressedChunkPartition)
    np.testing.assert_array_equal(read_all(ds, count=2), data.reshape(13, -1))


def test_an_analysis_of_a_compressed_file_equals_numpy(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = compressible(make_data, (8, 8, 32, 32), "<u2")
    ds = open_dataset(write(tmp_path / "c.h5", data, (1, 1, 32, 32), CODECS["bslz4"]))
    params = {"shape": "ring", "cx": 16.0, "cy": 16.0, "ri": 4.0, "ro": 12.0}
    analysis = make_analysis(
        "virtual", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    results = InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=3)).results
    y, x = np.mgrid[:32, :32]
    d2 = (y - 16.0) ** 2 + (x - 16.0) ** 2
    ring = (d2 > 4.0**2) & (d2 <= 12.0**2)
    expected = (data.astype(np.float64) * ring).sum(axis=(2, 3))
    image = next(v for v in results.values() if np.shape(v) == (8, 8))
    np.testing.assert_allclose(image, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("chunks", "options"),
    [
        ((1, 10, 12), CODECS["bslz4"]),  # chunks split the frame
        ((1, 20, 24), {"compression": "gzip", "shuffle": True}),  # two filters
        ((1, 20, 24), hdf5plugin.Bitshuffle(cname="zstd")),  # bitshuffle without LZ4
        ((1, 20, 24), hdf5plugin.Zstd()),  # a filter the Core has no decoder for
    ],
    ids=["split-frames", "shuffle-gzip", "bitshuffle-zstd", "zstd"],
)
def test_other_layouts_fall_back_to_h5py(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    chunks: tuple[int, ...],
    options: dict[str, Any],
) -> None:
    data = compressible(make_data, (11, 20, 24), "<u2")
    ds = open_dataset(write(tmp_path / "c.h5", data, chunks, options))
    assert storage(ds) is None  # read through h5py, HDF5's own pipeline
    np.testing.assert_array_equal(read_all(ds, count=2), data.reshape(11, -1))


def test_the_run_box_rule() -> None:
    assert run_box((6, 9), (1, 1)) and run_box((6, 9), (1, 8)) and run_box((6, 9), (3, 9))
    assert not run_box((6, 9), (2, 8)) and not run_box((4, 6, 9), (1, 2, 8))
    assert run_box((4, 6, 9), (2, 6, 9)) and run_box((4, 6, 9), (1, 1, 3))


def corrupt(path: str, at_chunk_byte: int, value: bytes) -> None:
    with h5py.File(path, "r") as f:
        offset = f["data"].id.get_chunk_info(2).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + at_chunk_byte)
        f.write(value)


@pytest.mark.parametrize(
    ("codec", "at", "value"),
    [
        ("bslz4", 12, b"\xff\xff\xff\x00"),  # the first block claims 4 GiB
        ("bslz4", 12, b"\x00\x00\x00\x10"),  # the first block claims too few bytes
        ("bslz4", 8, b"\x00\x00\x00\x07"),  # blocks of 7 bytes
        ("lz4", 12, b"\x7f\xff\xff\x00"),
        ("lz4", 0, b"\x00" * 8),  # the header's raw size
        ("gzip", 8, b"\xff" * 8),
    ],
)
def test_a_damaged_chunk_is_an_error_naming_the_file_and_frames(
    tmp_path: Path, make_data: Callable[..., np.ndarray], codec: str, at: int, value: bytes
) -> None:
    data = compressible(make_data, (6, 40, 40), "<u2")
    path = write(tmp_path / "c.h5", data, (1, 40, 40), CODECS[codec])
    corrupt(path, at, value)
    ds = open_dataset(path)
    part = ds.partitions(count=1)[0]
    np.testing.assert_array_equal(part.read(0, 2), data[:2].reshape(2, -1))
    with pytest.raises(DataSetError, match=r"c\.h5: cannot read partition 0.*damaged"):
        part.read(0, 6)
    with pytest.raises(DataSetError, match="damaged"):
        list(part.tiles(tile_frames=4))


def test_a_file_truncated_after_opening_is_an_error(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = compressible(make_data, (6, 40, 40), "<u2")
    path = write(tmp_path / "c.h5", data, (1, 40, 40), CODECS["bslz4"])
    part = open_dataset(path).partitions(count=1)[0]
    part.read(0, 1)
    with h5py.File(path, "r") as f:
        end = f["data"].id.get_chunk_info(3).byte_offset
    with open(path, "r+b") as f:
        f.truncate(end)
    with pytest.raises(DataSetError, match="too short"):
        part.read(0, 6)


def test_the_real_arina_data_file_decodes_as_hdf5_does(
    shared_testdata: Path, read_all: Callable[..., np.ndarray]
) -> None:
    path = shared_testdata / "arina" / "test_00_data_000001.h5"
    with h5py.File(path, "r") as f:
        expected = f["entry/data/data"][()]
    ds = open_dataset(f"{path}:/entry/data/data")
    assert isinstance(storage(ds), CompressedChunkPartition)
    np.testing.assert_array_equal(read_all(ds, count=3, tile_frames=4), expected.reshape(16, -1))


def test_decoded_tiles_stay_cache_sized_whatever_the_tile_asked(
    tmp_path: Path, make_data: Callable[..., np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = compressible(make_data, (20, 16, 16), "<u2")
    ds = open_dataset(write(tmp_path / "c.h5", data, (2, 16, 16), CODECS["lz4"]))
    monkeypatch.setattr(h5compressed, "DECODED_BYTES", 5 * 16 * 16 * 2)  # five frames
    part = ds.partitions(count=1)[0]
    tiles = [(first, t.copy()) for first, t in part.tiles(tile_frames=1000)]  # reused buffer
    assert [(first, len(t)) for first, t in tiles] == [(i, 4) for i in range(0, 20, 4)]
    np.testing.assert_array_equal(np.concatenate([t for _, t in tiles]), data.reshape(20, -1))


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((6, 9, 20, 24), (1, 1, 20, 24)),
        ((43, 20, 24), (8, 20, 24)),  # the last chunk short
        ((6, 9, 20, 24), (1, 8, 20, 24)),  # edge chunks padded
    ],
    ids=["frame", "8-frames", "8-in-row"],
)
def test_tile_streams_cover_the_frames_once_in_small_batches(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
) -> None:
    data = compressible(make_data, shape, "<u2")
    ds = open_dataset(write(tmp_path / "c.h5", data, chunks, CODECS["bslz4"]))
    flat = data.reshape(-1, 20 * 24)
    fb = 20 * 24 * 2
    monkeypatch.setattr(h5compressed, "STREAM_BYTES", 9 * fb)
    monkeypatch.setattr(h5compressed, "STREAM_BATCH_BYTES", 20 * fb)  # batches of 1-2 tiles
    for count, streams, tile in [(3, 2, 5), (4, 3, 1), (2, 5, 64), (1, 1, 8)]:
        for part in ds.partitions(count=count):  # partitions that cut chunks
            roi = np.ones(part.n_frames, bool)
            roi[1 : part.n_frames : 3] = False
            for mask in (None, roi):
                found = part.tile_streams(streams, tile_frames=tile, roi=mask)
                assert found is not None and len(found) == streams
                tiles = [(first, t.copy()) for stream in found for first, t in stream]
                wanted = np.arange(part.n_frames) if mask is None else np.flatnonzero(mask)
                got = sorted(first + i for first, t in tiles for i in range(len(t)))
                assert got == (part.start + wanted).tolist()
                assert max(len(t) for _, t in tiles) <= min(tile, 9)
                for first, t in tiles:
                    np.testing.assert_array_equal(t, flat[first : first + len(t)])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("analysis", ["sum", "virtual", "com"])
def test_analyses_over_tile_streams_equal_numpy(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    analysis: str,
    threads: int,
) -> None:
    data = compressible(make_data, (43, 32, 32), "<u2")
    ds = open_dataset(write(tmp_path / "c.h5", data, (8, 32, 32), CODECS["bslz4"]))
    monkeypatch.setattr(h5compressed, "STREAM_BYTES", 16 * 32 * 32 * 2)
    taken = []
    streams_of = CompressedChunkPartition.tile_streams

    def spy(self: CompressedChunkPartition, count: int, **kwargs: Any) -> Any:
        taken.append(count)
        return streams_of(self, count, **kwargs)

    monkeypatch.setattr(CompressedChunkPartition, "tile_streams", spy)
    params = {
        "sum": {},
        "virtual": {"shape": "ring", "cx": 16.0, "cy": 16.0, "ri": 4.0, "ro": 12.0},
        "com": {"cx": 15.0, "cy": 17.0, "r": 10.0},
    }[analysis]
    job = make_analysis(
        analysis, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    with kernels.threads(threads):
        results = InlineExecutor().run(ds, job, partitions=ds.partitions(count=3)).results
    assert taken == [2, 2, 2]
    frames = data.astype(np.float64)
    y, x = np.mgrid[:32, :32]
    if analysis == "sum":
        np.testing.assert_array_equal(results["sum"], frames.sum(axis=0))
        np.testing.assert_array_equal(results["max"], frames.max(axis=0))
        return
    if analysis == "virtual":
        d2 = (y - 16.0) ** 2 + (x - 16.0) ** 2
        ring = (d2 > 4.0**2) & (d2 <= 12.0**2)
        image = next(v for v in results.values() if np.shape(v) == (43,))
        np.testing.assert_allclose(image, (frames * ring).sum(axis=(1, 2)), rtol=1e-5)
        return
    # The centre of mass, against the Core's own reading of the same frames uncompressed.
    plain = open_dataset(write(tmp_path / "plain.h5", data, None, {}))
    expected = InlineExecutor().run(plain, job, partitions=plain.partitions(count=1)).results
    assert set(results) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(results[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
