"""The shared pieces: partition ranges, dtype and shape checks, ROI runs and the tile iterator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.errors import DataSetError
from apps.core.io.base import (
    Partition,
    check_dtype,
    check_shape,
    partition_ranges,
    roi_runs,
    tile_frames_for,
)


class ArrayPartition(Partition):
    """A partition over an in-memory ``(n, c)`` array, to test the shared tile iterator."""

    def __init__(self, frames: np.ndarray, *, start: int, stop: int) -> None:
        super().__init__(
            index=0, start=start, stop=stop, sig_shape=(1, frames.shape[1]), dtype=frames.dtype
        )
        self.frames = frames
        self.reads: list[tuple[int, int]] = []

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        self.reads.append((start, stop))
        return self.frames[start:stop]


def check_ranges(ranges: list[tuple[int, int]], n_frames: int) -> None:
    assert ranges[0][0] == 0 and ranges[-1][1] == n_frames
    for (_, stop), (start, _) in itertools.pairwise(ranges):
        assert stop == start
    sizes = [stop - start for start, stop in ranges]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


@settings(max_examples=300, deadline=None)
@given(n_frames=st.integers(1, 10**12), count=st.integers(1, 5000))
def test_it_splits_frames_into_count_near_equal_ranges(n_frames: int, count: int) -> None:
    ranges = partition_ranges(n_frames, 1024, count=count)
    assert len(ranges) == min(count, n_frames)
    check_ranges(ranges, n_frames)


@settings(max_examples=200, deadline=None)
@given(
    n_frames=st.integers(1, 20_000),
    frame_bytes=st.integers(1, 2**20),
    target=st.integers(2**10, 2**30),
    min_count=st.integers(1, 64),
)
def test_it_sizes_partitions_by_target_bytes(
    n_frames: int, frame_bytes: int, target: int, min_count: int
) -> None:
    ranges = partition_ranges(n_frames, frame_bytes, target_bytes=target, min_count=min_count)
    check_ranges(ranges, n_frames)
    wanted = max(min_count, -(-n_frames * frame_bytes // target))
    assert len(ranges) == min(wanted, n_frames)


def test_it_gives_known_ranges() -> None:
    assert partition_ranges(10, 8, count=3) == [(0, 3), (3, 6), (6, 10)]
    assert partition_ranges(2, 8, count=5) == [(0, 1), (1, 2)]
    assert partition_ranges(100, 2**20, target_bytes=30 * 2**20) == [
        (0, 25),
        (25, 50),
        (50, 75),
        (75, 100),
    ]


def test_it_sizes_tiles_in_whole_frames() -> None:
    assert tile_frames_for(1000, tile_bytes=4096) == 4
    assert tile_frames_for(10_000, tile_bytes=4096) == 1


def test_it_finds_roi_runs() -> None:
    roi = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    assert roi_runs(roi) == [(0, 2), (4, 5), (6, 9)]
    assert roi_runs(np.zeros(4, bool)) == []
    assert roi_runs(np.ones(4, bool)) == [(0, 4)]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_it_yields_exactly_the_roi_frames_in_tiles(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, 50), label="start")
    n = data.draw(st.integers(1, 60), label="n")
    tile_frames = data.draw(st.integers(1, 9), label="tile_frames")
    roi = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    frames = np.arange((start + n) * 3, dtype=np.int32).reshape(-1, 3)
    part = ArrayPartition(frames, start=start, stop=start + n)

    seen = []
    for first, tile in part.tiles(tile_frames=tile_frames, roi=roi):
        assert 1 <= len(tile) <= tile_frames
        np.testing.assert_array_equal(tile, frames[first : first + len(tile)])
        seen.extend(range(first, first + len(tile)))
    assert seen == (start + np.flatnonzero(roi)).tolist()


def test_it_skips_frames_outside_the_roi_without_reading_them() -> None:
    frames = np.arange(40, dtype=np.uint8).reshape(20, 2)
    part = ArrayPartition(frames, start=10, stop=20)
    roi = np.array([0, 1, 1, 1, 0, 0, 1, 1, 1, 1], dtype=bool)
    firsts = [first for first, _ in part.tiles(tile_frames=2, roi=roi)]
    assert firsts == [11, 13, 16, 18]
    assert part.reads == [(11, 13), (13, 14), (16, 18), (18, 20)]


def test_it_refuses_a_roi_of_the_wrong_length() -> None:
    part = ArrayPartition(np.zeros((8, 2)), start=0, stop=8)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        list(part.tiles(tile_frames=2, roi=np.ones(7, bool)))
    with pytest.raises(ValueError, match="tile_frames"):
        list(part.tiles(tile_frames=0))


def test_it_refuses_reads_outside_the_partition() -> None:
    part = ArrayPartition(np.zeros((8, 2)), start=2, stop=6)
    with pytest.raises(ValueError, match=r"frames \[1, 3\) are outside partition 0"):
        part.read(1, 3)


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "|i1", "<f8", ">i4", "uint32", "float32"])
def test_it_accepts_supported_dtypes(dtype: str) -> None:
    assert check_dtype(dtype, source="x.raw") == np.dtype(dtype)


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        (None, "dtype is missing"),
        ("no-such-type", "unknown dtype 'no-such-type'"),
        ("<c8", "dtype '<c8' is not supported"),
        ("?", "dtype '|b1' is not supported"),
        ("<i8", "dtype '<i8' is not supported"),
        ("<f2", "dtype '<f2' is not supported"),
    ],
)
def test_it_names_the_source_of_a_bad_dtype(dtype: object, message: str) -> None:
    with pytest.raises(DataSetError, match=f"^data/x.raw: {message}"):
        check_dtype(dtype, source="data/x.raw")


@pytest.mark.parametrize("shape", [None, [], [3, 0], [3, -1], [2.5, 3], "ab", [[1]]])
def test_it_refuses_bad_shapes(shape: object) -> None:
    with pytest.raises(DataSetError, match=r"^s\.json: nav_shape must be positive integers"):
        check_shape(shape, name="nav_shape", source="s.json")


def test_it_checks_the_number_of_dimensions() -> None:
    assert check_shape([4, 5.0], name="sig_shape", source="s.json", ndim=2) == (4, 5)
    with pytest.raises(DataSetError, match="sig_shape must be 2 positive integers, got"):
        check_shape([4, 5, 6], name="sig_shape", source="s.json", ndim=2)
