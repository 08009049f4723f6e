"""DECTRIS Arina / NeXus masters: the real file and synthetic multi-file acquisitions."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from format_reference import check_against_numpy

from apps.core.errors import DataSetError
from apps.core.io import detect, open_dataset
from apps.core.io.h5compressed import CompressedChunkPartition

MASK = "entry/instrument/detector/detectorSpecific/pixel_mask"


def test_it_registers_the_real_arina_file(shared_testdata: Path) -> None:
    master = shared_testdata / "arina" / "test_00_master.h5"
    with h5py.File(master, "r") as f:
        reference = f["entry/data/data_000001"][()]
    desc = detect(str(master))
    assert (desc["format"], desc["nav_shape"], desc["sig_shape"], desc["dtype"]) == (
        "arina",
        [16],
        [192, 192],
        "<u4",
    )
    assert desc["pixel_mask"] == 0
    ds = open_dataset(str(master), params={"nav_shape": [4, 4]})
    check_against_numpy(ds, reference, count=3)


def write_master(folder: Path, chunks: list[np.ndarray], mask: np.ndarray) -> Path:
    """A master linking ``data_00000k`` to bitshuffle/LZ4 files, with a pixel mask."""
    master = folder / "scan_master.h5"
    with h5py.File(master, "w") as f:
        for k, frames in enumerate(chunks, start=1):
            name = f"scan_data_{k:06d}.h5"
            with h5py.File(folder / name, "w") as d:
                d.create_dataset(
                    "entry/data/data",
                    data=frames,
                    chunks=(1, *frames.shape[1:]),
                    **hdf5plugin.Bitshuffle(cname="lz4"),
                )
            f[f"entry/data/data_{k:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
        f[MASK] = mask
    return master


@pytest.fixture
def acquisition(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    frames = rng.integers(0, 1000, size=(35, 24, 20), dtype=np.uint32)
    mask = np.zeros((24, 20), np.uint32)
    mask[3, 4] = 1
    mask[10, :] = 4  # a dead row
    return write_master(tmp_path, [frames[:16], frames[16:30], frames[30:]], mask), frames, mask


def test_it_reads_every_data_file_as_one_sequence_with_the_pixel_mask(
    acquisition: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    master, frames, mask = acquisition
    ds = open_dataset(str(master), params={"nav_shape": [5, 7]})
    assert (ds.format, ds.nav_shape, ds.sig_shape, ds.dtype) == ("arina", (5, 7), (24, 20), "<u4")
    assert ds.describe()["pixel_mask"] == 21
    np.testing.assert_array_equal(ds.pixel_mask, mask != 0)
    masked = np.where(mask != 0, 0, frames)
    for count in (1, 3, 6):
        parts = ds.partitions(count=count)
        got = np.concatenate([p.read(p.start, p.stop) for p in parts])
        np.testing.assert_array_equal(got, masked.reshape(35, -1))
    check_against_numpy(ds, masked, count=4)
    # Every data file's chunks were decoded by the Core, not by h5py.
    part = ds.partitions(count=1)[0]
    part.read(0, 35)
    decoded = part.inner.__dict__["_decoded"]
    assert len(decoded) == 3
    assert all(isinstance(d, CompressedChunkPartition) for d in decoded.values())
    assert [(d.start, d.stop) for d in decoded.values()] == [(0, 16), (16, 30), (30, 35)]


def test_it_names_a_missing_data_file(acquisition: tuple[Path, np.ndarray, np.ndarray]) -> None:
    master, _, _ = acquisition
    (master.parent / "scan_data_000002.h5").unlink()
    with pytest.raises(DataSetError, match=r"scan_master\.h5: .*data_000002 links to "):
        detect(str(master))


def test_it_refuses_a_nav_shape_that_does_not_fit(
    acquisition: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    master, _, _ = acquisition
    with pytest.raises(DataSetError, match=r"nav_shape \[6, 6\] does not fit.*35 frames"):
        open_dataset(str(master), params={"nav_shape": [6, 6]})
