"""Scans of one, two and three axes: every format keeps the scan shape it reads or is given.

The frames stay numbered in C order over the scan (the partitions' flat index); ``sum``,
``virtual`` and ``com`` equal numpy on the same frames, reshaped to the full scan shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from format_reference import check_against_numpy

from apps.core.errors import DataSetError
from apps.core.io import open_dataset
from tests.merlin_files import write_mib

SIG = (12, 10)
SCANS = [(6,), (2, 3), (2, 3, 4), (3, 1, 4)]
SCAN_IDS = ["1-axis", "2-axis", "3-axis", "3-axis-singleton"]


@pytest.mark.parametrize("nav", SCANS, ids=SCAN_IDS)
def test_npy_keeps_every_scan_axis(
    tmp_path: Path, make_data: Callable[..., np.ndarray], nav: tuple[int, ...], read_all
) -> None:
    data = make_data((*nav, *SIG), "<u2")
    np.save(tmp_path / "scan.npy", data)
    ds = open_dataset(str(tmp_path / "scan.npy"))
    assert (ds.nav_shape, ds.sig_shape) == (nav, SIG)
    assert ds.describe()["nav_shape"] == list(nav)
    np.testing.assert_array_equal(read_all(ds, count=3), data.reshape(-1, math.prod(SIG)))
    check_against_numpy(ds, data.reshape(-1, *SIG))


@pytest.mark.parametrize("nav", SCANS, ids=SCAN_IDS)
@pytest.mark.parametrize("compressed", [False, True], ids=["contiguous", "bitshuffle"])
def test_hdf5_keeps_every_scan_axis(
    tmp_path: Path, make_data: Callable[..., np.ndarray], nav: tuple[int, ...], compressed: bool
) -> None:
    data = make_data((*nav, *SIG), "<u2").astype("<f4")
    options = (
        {"chunks": (*(1,) * len(nav), *SIG), **hdf5plugin.Bitshuffle(cname="lz4")}
        if compressed
        else {}
    )
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f.create_dataset("entry/data", data=data, **options)
    ds = open_dataset(str(tmp_path / "scan.h5"))
    assert (ds.nav_shape, ds.sig_shape, ds.params()) == (nav, SIG, {"dataset": "/entry/data"})
    check_against_numpy(ds, data.reshape(-1, *SIG))


def test_hdf5_takes_a_given_nav_shape_of_any_length(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    data = make_data((2, 2, 1, *SIG), "<u2")
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["data"] = data
    assert open_dataset(str(tmp_path / "scan.h5")).nav_shape == (2, 2, 1)
    for nav in ([2, 2], [4], [1, 2, 2], [2, 1, 2, 1]):
        ds = open_dataset(str(tmp_path / "scan.h5"), params={"nav_shape": nav})
        assert ds.nav_shape == tuple(nav)
        assert ds.params()["nav_shape"] == nav
    ds = open_dataset(str(tmp_path / "scan.h5"), params={"nav_shape": [1, 2, 2]})
    check_against_numpy(ds, data.reshape(-1, *SIG), count=2)
    with pytest.raises(DataSetError, match=r"nav_shape \[2, 3\] does not fit.*product is 4"):
        open_dataset(str(tmp_path / "scan.h5"), params={"nav_shape": [2, 3]})


@pytest.mark.parametrize("nav", SCANS, ids=SCAN_IDS)
def test_raw_sidecar_and_headerless_take_any_nav_shape(
    tmp_path: Path, make_data: Callable[..., np.ndarray], nav: tuple[int, ...]
) -> None:
    data = make_data((*nav, *SIG), ">i2")
    (tmp_path / "data.raw").write_bytes(data.tobytes())
    doc = {
        "format": "libertem-raw",
        "version": 1,
        "dtype": ">i2",
        "nav_shape": list(nav),
        "sig_shape": list(SIG),
        "path": "data.raw",
    }
    (tmp_path / "scan.json").write_text(json.dumps(doc), encoding="utf-8")
    ds = open_dataset(str(tmp_path / "scan.json"))
    assert ds.nav_shape == nav
    check_against_numpy(ds, data.reshape(-1, *SIG))
    params = {"nav_shape": list(nav), "sig_shape": list(SIG), "dtype": ">i2"}
    ds = open_dataset(str(tmp_path / "data.raw"), format="raw", params=params)
    assert ds.nav_shape == nav
    check_against_numpy(ds, data.reshape(-1, *SIG), count=2)


def test_mib_takes_a_nav_shape_of_three_axes(tmp_path: Path) -> None:
    frames = np.random.default_rng(3).integers(0, 4000, size=(24, 16, 8), dtype=np.uint16)
    write_mib(tmp_path / "scan.mib", frames)
    ds = open_dataset(str(tmp_path / "scan.mib"), params={"nav_shape": [2, 3, 4]})
    assert (ds.nav_shape, ds.params()) == ((2, 3, 4), {"nav_shape": [2, 3, 4]})
    check_against_numpy(ds, frames)
    # fewer frames than the acquisition: the rest are ignored, with a warning
    ds = open_dataset(str(tmp_path / "scan.mib"), params={"nav_shape": [1, 2, 11]})
    assert ds.nav_shape == (1, 2, 11)
    check_against_numpy(ds, frames[:22], count=2)
    with pytest.raises(DataSetError, match=r"nav_shape \[2, 3, 5\] needs 30 frames.* 24 whole"):
        open_dataset(str(tmp_path / "scan.mib"), params={"nav_shape": [2, 3, 5]})


def test_arina_takes_a_nav_shape_of_three_axes(tmp_path: Path) -> None:
    frames = np.random.default_rng(5).integers(0, 1000, size=(30, 12, 10), dtype=np.uint32)
    master = tmp_path / "scan_master.h5"
    with h5py.File(master, "w") as f:
        for k, part in enumerate((frames[:16], frames[16:]), start=1):
            name = f"scan_data_{k:06d}.h5"
            with h5py.File(tmp_path / name, "w") as d:
                d.create_dataset(
                    "entry/data/data",
                    data=part,
                    chunks=(1, *SIG),
                    **hdf5plugin.Bitshuffle(cname="lz4"),
                )
            f[f"entry/data/data_{k:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
    ds = open_dataset(str(master), params={"nav_shape": [2, 3, 5]})
    assert (ds.format, ds.nav_shape, ds.params()) == ("arina", (2, 3, 5), {"nav_shape": [2, 3, 5]})
    check_against_numpy(ds, frames)
    with pytest.raises(DataSetError, match=r"nav_shape \[2, 3, 4\] does not fit.*30 frames"):
        open_dataset(str(master), params={"nav_shape": [2, 3, 4]})
