"""Format detection and open_dataset: content first, then the name."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from apps.core.errors import DataSetError
from apps.core.io import FORMATS, detect, open_dataset, sniff_format


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    data = np.arange(2 * 3 * 4 * 5, dtype="<u2").reshape(2, 3, 4, 5)
    with h5py.File(tmp_path / "scan.bin", "w") as f:  # an HDF5 file with an unusual name
        f["/entry/data"] = data
    np.save(tmp_path / "scan.npy", data[0])
    (tmp_path / "scan.raw").write_bytes(data.tobytes())
    sidecar = {
        "format": "libertem-raw", "version": 1, "dtype": "<u2", "nav_shape": [2, 3],
        "sig_shape": [4, 5], "path": "scan.raw",
    }  # fmt: skip
    (tmp_path / "scan.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return {
        "hdf5": tmp_path / "scan.bin",
        "npy": tmp_path / "scan.npy",
        "raw": tmp_path / "scan.json",
        "unknown": tmp_path / "scan.raw",
    }


def test_it_sniffs_formats_from_content(files: dict[str, Path]) -> None:
    assert sniff_format(str(files["hdf5"])) == "hdf5"
    assert sniff_format(f"{files['hdf5']}:/entry/data") == "hdf5"
    assert sniff_format(str(files["npy"])) == "npy"
    assert sniff_format(str(files["raw"])) == "raw"
    assert set(FORMATS) == {"raw", "hdf5", "npy", "mib", "arina", "empad", "raw_csr", "hdf5_csr"}


def test_it_detects_each_format(files: dict[str, Path]) -> None:
    h5 = detect(str(files["hdf5"]))
    assert h5 == {
        "format": "hdf5", "path": str(files["hdf5"]), "nav_shape": [2, 3], "sig_shape": [4, 5],
        "dtype": "<u2", "params": {"dataset": "/entry/data"},
        "notes": ["The largest dataset with 3 or more dimensions, /entry/data, was chosen."],
    }  # fmt: skip
    npy = detect(str(files["npy"]))
    assert (npy["format"], npy["nav_shape"], npy["sig_shape"], npy["params"]) == (
        "npy", [3], [4, 5], {},
    )  # fmt: skip
    raw = detect(str(files["raw"]))
    assert (raw["format"], raw["nav_shape"], raw["dtype"]) == ("raw", [2, 3], "<u2")


def test_it_reopens_a_detected_dataset_from_its_description(files: dict[str, Path]) -> None:
    desc = detect(f"{files['hdf5']}:/entry/data")
    ds = open_dataset(desc["path"], format=desc["format"], params=desc["params"])
    assert ds.describe() == desc
    np.testing.assert_array_equal(
        ds.partitions()[0].read(0, 6), np.arange(120, dtype="<u2").reshape(6, 20)
    )


def test_it_refuses_unknown_content(files: dict[str, Path]) -> None:
    path = files["unknown"]
    with pytest.raises(DataSetError, match=f"^{path}: unknown format; expected an HDF5 file"):
        detect(str(path))
    ds = open_dataset(
        str(path), format="raw", params={"nav_shape": [6], "sig_shape": [4, 5], "dtype": "<u2"}
    )
    assert ds.nav_shape == (6,)


def test_it_refuses_folders_missing_files_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(DataSetError, match=f"^{tmp_path}: is a folder, not a data file"):
        detect(str(tmp_path))
    with pytest.raises(DataSetError, match=f"^{tmp_path / 'no.h5'}: cannot read the file: No such"):
        detect(str(tmp_path / "no.h5"))
    with pytest.raises(
        DataSetError, match=r"unknown format 'tiff'; expected one of raw, hdf5, npy"
    ):
        open_dataset(str(tmp_path / "x.tif"), format="tiff")


def test_it_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    with pytest.raises(DataSetError, match=f"^{path}: not an HDF5 file"):
        detect(str(path))  # named like HDF5: the HDF5 reader says what is wrong
    with pytest.raises(DataSetError, match=f"^{path}: not an HDF5 file"):
        open_dataset(str(path), format="hdf5")
