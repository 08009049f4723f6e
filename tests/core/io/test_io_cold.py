"""Cold data: files evicted from the page cache are read by ``O_DIRECT`` threads ahead of the
kernels (apps.core.io.direct), with the same results as through the memory map."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.core import ops
from apps.core.analyses import make_analysis
from apps.core.errors import DataSetError
from apps.core.executor import InlineExecutor
from apps.core.io import direct, mapping, open_dataset, pagecache
from apps.core.io.base import DataSet

N, H, W = 600, 16, 16  # 600 KiB of float32 frames
PARTITION_BYTES = 200 * 2**10
BLOCK = 64 * 2**10


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Blocks of 64 KiB (a partition of this size counts as cold from one block on), and the
    sum's and the mask products' tiles no larger (larger tiles are read through the map)."""
    monkeypatch.setattr(direct, "READ_BYTES", BLOCK)
    # tiles over the masks' span or box (at least a quarter of these frames) are smaller still
    for name in ("FOLD_TILE_BYTES", "SUM_TILE_BYTES", "DEFAULT_TILE_BYTES", "VIEW_TILE_BYTES"):
        monkeypatch.setattr(ops, name, BLOCK // 4)
    mapping.forget()
    yield
    mapping.forget()


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the partitions read by direct reads."""
    calls: list[int] = []
    real = direct.direct_tiles

    def spy(fd: int, **kwargs: Any) -> Iterator[tuple[int, np.ndarray]]:
        calls.append(fd)
        yield from real(fd, **kwargs)

    monkeypatch.setattr(direct, "direct_tiles", spy)
    return calls


def write_raw(path: Path, data: np.ndarray, header: int = 0) -> None:
    with open(path, "wb") as f:
        f.write(b"\x07" * header)
        f.write(data.tobytes())


def open_raw(path: Path, dtype: str, header: int = 0) -> DataSet:
    params = {"nav_shape": [20, N // 20], "sig_shape": [H, W], "dtype": dtype, "offset": header}
    return open_dataset(str(path), format="raw", params=params)


def direct_io_works(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"\0" * 4096)
    try:
        os.close(os.open(probe, os.O_RDONLY | os.O_DIRECT))
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    if not direct_io_works(tmp_path):
        pytest.skip("the test folder's file system takes no O_DIRECT (tmpfs)")
    return tmp_path


def run(ds: DataSet, name: str, params: dict[str, Any], roi: Any = None) -> dict[str, np.ndarray]:
    analysis = make_analysis(
        name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    parts = ds.partitions(target_bytes=PARTITION_BYTES)
    return InlineExecutor().run(ds, analysis, roi=roi, partitions=parts).results


@pytest.mark.parametrize(("dtype", "header"), [("<f4", 0), ("<u2", 100), (">f4", 4096 + 12)])
def test_cold_sum_and_ring_equal_the_warm_ones_and_numpy(
    folder: Path, taken: list[int], dtype: str, header: int
) -> None:
    data = (np.random.default_rng(3).random((N, H, W)) * 1000).astype(dtype)
    path = folder / "scan.raw"
    write_raw(path, data, header)
    ds = open_raw(path, dtype, header)
    ring = {"shape": "ring", "cx": 8.0, "cy": 8.0, "ri": 2.0, "ro": 6.0}
    roi = np.zeros((20, N // 20), dtype=bool)
    roi[2:9] = True
    roi[11, 3:17] = True

    cold = {}
    for name, params, r in (("sum", {}, None), ("virtual", ring, None), ("sum", {}, roi)):
        pagecache.evict([str(path)])
        cold[name, r is None] = run(ds, name, params, r)
    # every partition of the three runs was read directly, but those where the ROI's frames
    # span less than a block (read through the map)
    parts = ds.partitions(target_bytes=PARTITION_BYTES)
    flat = roi.reshape(-1)
    spans = [np.flatnonzero(flat[p.start : p.stop]) for p in parts]
    block = direct.READ_BYTES / ds.frame_bytes
    selected = [s for s in spans if s.size and s[-1] - s[0] + 1 >= block]
    assert len(parts) >= 2
    assert len(taken) == 2 * len(parts) + len(selected)
    taken.clear()
    path.read_bytes()  # direct reads leave the file uncached: cache it
    warm = {
        (n, r is None): run(ds, n, p, r)
        for n, p, r in (("sum", {}, None), ("virtual", ring, None), ("sum", {}, roi))
    }
    assert taken == []  # cached now: through the map

    for key, results in cold.items():
        for field, value in results.items():
            np.testing.assert_array_equal(value, warm[key][field], err_msg=f"{key} {field}")
    values = data.astype(np.float64)
    np.testing.assert_allclose(
        cold["sum", True]["sum"], values.sum(axis=0), rtol=1e-6
    )  # float32 partial sums
    np.testing.assert_allclose(
        cold["sum", False]["sum"], values[roi.reshape(-1)].sum(axis=0), rtol=1e-6
    )


def test_cold_tiles_are_the_frames_read_only(folder: Path, taken: list[int]) -> None:
    data = np.arange(N * H * W, dtype=np.float32).reshape(N, H * W)
    path = folder / "frames.raw"
    write_raw(path, data, header=52)
    part = open_raw(path, "<f4", header=52).partitions(count=1)[0]
    roi = np.zeros(N, dtype=bool)
    roi[5:70] = roi[300:301] = roi[400:] = True
    pagecache.evict([str(path)])
    got = {}
    for first, tile in part.tiles(tile_frames=7, roi=roi):
        assert tile.shape[0] <= 7 and not tile.flags.writeable
        got.update({first + i: tile[i].copy() for i in range(tile.shape[0])})
    assert len(taken) == 1
    assert sorted(got) == list(np.flatnonzero(roi))
    for i, frame in got.items():
        np.testing.assert_array_equal(frame, data[i])


def test_tiles_larger_than_a_block_are_read_through_the_map(folder: Path, taken: list[int]) -> None:
    data = np.ones((N, H * W), dtype=np.float32)
    path = folder / "big-tiles.raw"
    write_raw(path, data)
    part = open_raw(path, "<f4").partitions(count=1)[0]
    pagecache.evict([str(path)])
    tiles = list(part.tiles(tile_frames=BLOCK // (H * W * 4) + 1))
    assert taken == [] and sum(t.shape[0] for _first, t in tiles) == N


def test_tiles_closed_while_the_readers_are_ahead_stop_them(folder: Path) -> None:
    """A consumer that stops early (a cancelled or failed partition) while every buffer is
    taken, one reader waiting its turn for a free one: closing returns (it once deadlocked)."""
    import threading
    import time

    data = np.ones((N, H * W), dtype=np.float32)
    path = folder / "early.raw"
    write_raw(path, data)
    part = open_raw(path, "<f4").partitions(count=1)[0]
    pagecache.evict([str(path)])
    tiles = part.tiles(tile_frames=16)
    next(tiles)
    time.sleep(0.5)  # the readers fill the other buffers, one waits for a free one
    closer = threading.Thread(target=tiles.close, daemon=True)
    closer.start()
    closer.join(timeout=20)
    assert not closer.is_alive(), "closing the cold tiles early hung"
    assert not [t for t in threading.enumerate() if t.name == "direct-read"]


def test_a_file_cut_short_during_a_cold_read_names_the_file(folder: Path) -> None:
    data = np.ones((N, H * W), dtype=np.float32)
    path = folder / "short.raw"
    write_raw(path, data)
    part = open_raw(path, "<f4").partitions(count=1)[0]
    pagecache.evict([str(path)])
    tiles = part.tiles(tile_frames=16)
    next(tiles)
    os.truncate(path, data.nbytes // 2)
    with pytest.raises(DataSetError, match=r"short\.raw: file is too short for partition 0"):
        for _ in tiles:
            pass


def test_evict_drops_the_pages(folder: Path) -> None:
    path = folder / "warm.raw"
    path.write_bytes(os.urandom(4 * 2**20))
    path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    try:
        assert pagecache.probed_fraction(fd, 0, 4 * 2**20) == 1.0  # just read: cached
        pagecache.evict([str(path)])
        if pagecache._cachestat(fd, 0, 4 * 2**20) is None:
            pytest.skip("cachestat is not answered here: nothing counts the pages exactly")
        assert pagecache.cached_fraction(fd, 0, 4 * 2**20) == 0.0
    finally:
        os.close(fd)


def test_a_large_range_is_estimated_from_windows(folder: Path) -> None:
    """A 64 MiB file whose first half alone is cached: the windows spread over it find half,
    over each half all or nothing, as the exact count does."""
    size = 64 * 2**20
    path = folder / "half.raw"
    path.write_bytes(os.urandom(size))
    pagecache.evict([str(path)])
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_RANDOM)  # no readahead past the half
        f.read(size // 2)
    fd = os.open(path, os.O_RDONLY)
    try:
        if pagecache._cachestat(fd, 0, size) is None:
            pytest.skip("cachestat is not answered here: nothing counts the pages exactly")
        exact = pagecache.cached_fraction(fd, 0, size)
        assert exact == 0.5
        assert pagecache.estimated_fraction(fd, 0, size) == pytest.approx(0.5, abs=1 / 16)
        assert pagecache.estimated_fraction(fd, 0, size // 2) == 1.0
        assert pagecache.estimated_fraction(fd, size * 5 // 8, size * 3 // 8) == 0.0
        small = 4 * 2**20  # at most the windows' bytes: counted exactly
        assert pagecache.estimated_fraction(fd, size // 2 - small // 4, small) == pytest.approx(
            pagecache.cached_fraction(fd, size // 2 - small // 4, small)
        )
    finally:
        os.close(fd)


def test_evict_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataSetError, match=r"nothing\.raw: cannot evict the file .*No such file"):
        pagecache.evict([str(tmp_path / "nothing.raw")])


def test_evict_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataSetError, match=r"cannot evict it from the page cache: not a regular"):
        pagecache.evict([str(tmp_path)])
