"""Real files written by real software (../shared/testdata, see its README)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from apps.core.io import detect, open_dataset


@pytest.mark.parametrize(
    ("name", "dataset", "shape"),
    [
        (
            "emd/Si100_4D.emd",
            "/4DSTEM_simulation/data/datacubes/CBED_array_depth0000/datacube",
            (11, 11, 8, 8),
        ),
        ("emd/py4DSTEM_size2x3x4x5.h5", "/datacube_root/datacube/data", (2, 3, 4, 5)),
    ],
)
def test_it_opens_the_largest_datacube_of_real_emd_files(
    shared_testdata: Path,
    read_all: Callable[..., np.ndarray],
    name: str,
    dataset: str,
    shape: tuple[int, ...],
) -> None:
    path = shared_testdata / name
    with h5py.File(path, "r") as f:
        reference = f[dataset][()]
    assert reference.shape == shape

    ds = open_dataset(str(path))
    assert (ds.format, ds.dataset) == ("hdf5", dataset)
    assert (ds.nav_shape, ds.sig_shape, ds.dtype) == (shape[:2], shape[2:], reference.dtype)
    frames = read_all(ds, count=2, tile_frames=4)
    np.testing.assert_array_equal(frames, reference.reshape(shape[0] * shape[1], -1))
    assert np.ptp(frames) > 0


def test_it_reads_a_dectris_arina_master_with_bitshuffle_lz4(
    shared_testdata: Path, read_all: Callable[..., np.ndarray]
) -> None:
    path = shared_testdata / "arina" / "test_00_master.h5"
    desc = detect(str(path))
    assert (desc["format"], desc["params"]) == ("arina", {})
    assert (desc["nav_shape"], desc["sig_shape"], desc["dtype"]) == ([16], [192, 192], "<u4")
    frames = read_all(open_dataset(str(path), params={"nav_shape": [4, 4]}), count=3)
    assert frames.shape == (16, 192 * 192)
    assert not frames.any()  # the README: every pixel of this file is 0
