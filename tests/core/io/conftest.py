"""Fixtures for the Core I/O tests: asymmetric random data and a reader of whole datasets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from apps.core.io import DataSet


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def make_data(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    """``make_data(shape, dtype)``: random values over the dtype's range, every frame different."""

    def make(shape: tuple[int, ...], dtype: str = "<u2") -> np.ndarray:
        dt = np.dtype(dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            data = rng.integers(
                info.min, info.max, size=shape, endpoint=True, dtype=dt.newbyteorder("=")
            )
        else:
            data = rng.standard_normal(size=shape) * 1e3
        return np.ascontiguousarray(data.astype(dt))

    return make


def read_frames(ds: DataSet, *, count: int | None = None, tile_frames: int = 5) -> np.ndarray:
    """All frames of ``ds`` as ``(n, c)``, read tile by tile through its partitions."""
    frames = np.empty((ds.n_frames, ds.frame_size), dtype=ds.dtype)
    expected = 0
    for part in ds.partitions(count=count):
        assert part.start == expected, "partitions must be contiguous and in order"
        for first, tile in part.tiles(tile_frames=tile_frames):
            assert tile.dtype == ds.dtype
            assert tile.shape[1] == ds.frame_size and 0 < tile.shape[0] <= tile_frames
            frames[first : first + len(tile)] = tile
        expected = part.stop
        part.close()
    assert expected == ds.n_frames
    return frames


@pytest.fixture
def read_all() -> Callable[..., np.ndarray]:
    """``read_all(ds, count=None, tile_frames=5)``: the dataset as ``(n, c)`` via its tiles."""
    return read_frames
