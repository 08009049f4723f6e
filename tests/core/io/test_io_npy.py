"""NumPy .npy files, memory-mapped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from apps.core.errors import DataSetError
from apps.core.io import open_dataset
from apps.core.io.npy import NpyDataSet


@pytest.mark.parametrize(
    ("shape", "dtype", "nav"),
    [
        ((7, 13, 33, 47), "<u2", (7, 13)),
        ((91, 33, 47), ">f4", (91,)),
        ((3, 5, 4, 6), "|i1", (3, 5)),
        ((11, 2, 9), ">u4", (11,)),
    ],
)
def test_it_reads_3d_and_4d_arrays(
    tmp_path: Path,
    make_data: Callable[..., np.ndarray],
    read_all: Callable[..., np.ndarray],
    shape: tuple[int, ...],
    dtype: str,
    nav: tuple[int, ...],
) -> None:
    data = make_data(shape, dtype)
    np.save(tmp_path / "scan.npy", data)

    ds = open_dataset(str(tmp_path / "scan.npy"))
    assert isinstance(ds, NpyDataSet)
    assert (ds.nav_shape, ds.sig_shape, ds.dtype) == (nav, shape[-2:], np.dtype(dtype))
    assert ds.params() == {}
    frames = read_all(ds, count=4, tile_frames=3)
    np.testing.assert_array_equal(frames, data.reshape(-1, shape[-2] * shape[-1]))


def test_it_reads_a_version_3_header(tmp_path: Path, make_data: Callable[..., np.ndarray]) -> None:
    data = make_data((4, 3, 5), "<i2")
    with open(tmp_path / "v3.npy", "wb") as f:
        np.lib.format.write_array(f, data, version=(3, 0))
    ds = open_dataset(str(tmp_path / "v3.npy"))
    np.testing.assert_array_equal(ds.partitions()[0].read(0, 4), data.reshape(4, 15))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.asfortranarray(np.zeros((3, 4, 5), "<u2")), "Fortran-ordered arrays are not supported"),
        (
            np.zeros((4, 5), "<u2"),
            r"expected an array of at least 3 dimensions .* got shape \[4, 5\]",
        ),
        (np.zeros((3, 4, 5), "<c8"), "dtype '<c8' is not supported"),
        (np.zeros((3, 0, 5), "<u2"), r"sig_shape must be 2 positive integers, got \(0, 5\)"),
    ],
)
def test_it_refuses_unusable_arrays(tmp_path: Path, array: np.ndarray, message: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(DataSetError, match=message) as err:
        open_dataset(str(path))
    assert str(err.value).startswith(str(path))


def test_it_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.npy"
    np.save(path, np.zeros((4, 3, 5), "<u2"))
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 2)
    with pytest.raises(
        DataSetError, match=f"^{path}: file has {size - 2} bytes, {size} are needed"
    ):
        open_dataset(str(path))


def test_it_refuses_a_file_that_is_not_npy(tmp_path: Path) -> None:
    path = tmp_path / "fake.npy"
    path.write_bytes(b"not numpy at all")
    with pytest.raises(DataSetError, match=f"^{path}: not a valid .npy file"):
        open_dataset(str(path), format="npy")


def test_it_takes_no_params(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 4), "<u2"))
    with pytest.raises(DataSetError, match=r"an \.npy file describes itself"):
        open_dataset(str(tmp_path / "a.npy"), params={"nav_shape": [2]})


def test_it_names_file_and_partition_when_truncated_after_opening(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((8, 3, 5), "<f8")
    path = tmp_path / "scan.npy"
    np.save(path, data)
    parts = open_dataset(str(path)).partitions(count=2)
    np.testing.assert_array_equal(parts[1].read(4, 8), data[4:].reshape(4, 15))
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 8)
    with pytest.raises(DataSetError, match=f"^{path}: file is too short for partition 1"):
        parts[1].read(7, 8)
    np.testing.assert_array_equal(parts[0].read(0, 4), data[:4].reshape(4, 15))
