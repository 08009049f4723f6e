"""HDF5 conventions (EMD 1.0, EMD 0.2, HyperSpy, NeXus NXdata): datacube and calibration."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from format_reference import check_against_numpy

from apps.core.errors import DataSetError
from apps.core.io import detect, open_dataset


@pytest.mark.parametrize(
    ("name", "dataset", "convention", "units"),
    [
        (
            "emd/Si100_4D.emd",
            "/4DSTEM_simulation/data/datacubes/CBED_array_depth0000/datacube",
            "EMD 0.2",
            ["[n_m]", "[n_m]", "[n_m^-1]", "[n_m^-1]"],
        ),
        (
            "emd/py4DSTEM_size2x3x4x5.h5",
            "/datacube_root/datacube/data",
            "EMD 1.0",
            ["nm", "nm", "A^-1", "A^-1"],
        ),
    ],
)
def test_it_calibrates_real_emd_files(
    shared_testdata: Path, name: str, dataset: str, convention: str, units: list[str]
) -> None:
    path = shared_testdata / name
    with h5py.File(path, "r") as f:
        reference = f[dataset][()]
        group = f[dataset].parent
        first = 1 if convention == "EMD 0.2" else 0
        dims = [group[f"dim{first + k}"][()] for k in range(4)]
    desc = detect(str(path))
    assert desc["params"] == {"dataset": dataset}
    assert desc["notes"] == [f"{convention} file: its datacube is {dataset}."]
    assert [a["units"] for a in desc["calibration"]] == units
    for axis, values in zip(desc["calibration"], dims, strict=True):
        assert axis["scale"] == pytest.approx(float(values[1] - values[0]))
        assert axis["offset"] == pytest.approx(float(values[0]))
    ds = open_dataset(str(path))
    frames = reference.reshape(-1, *reference.shape[2:])
    check_against_numpy(ds, frames, count=2)


def test_it_reads_a_hyperspy_file_with_its_axes(tmp_path: Path) -> None:
    data = np.random.default_rng(4).integers(0, 100, (3, 4, 6, 5), dtype=np.uint16)
    path = tmp_path / "scan.hspy"
    with h5py.File(path, "w") as f:
        f["Experiments/scan/data"] = data
        f["Experiments/scan/small"] = np.zeros((50, 2))
        for k, (units, scale) in enumerate(
            [("nm", 2.0), ("nm", 2.0), ("1/nm", 0.1), ("1/nm", 0.1)]
        ):
            axis = f.create_group(f"Experiments/scan/axis-{k}")
            axis.attrs.update({"units": units, "scale": scale, "offset": -1.0, "name": f"a{k}"})
    desc = detect(str(path))
    assert desc["params"] == {"dataset": "/Experiments/scan/data"}
    assert desc["calibration"][2] == {"name": "a2", "units": "1/nm", "scale": 0.1, "offset": -1.0}
    check_against_numpy(open_dataset(str(path)), data.reshape(12, 6, 5), count=3)


def test_it_reads_a_nexus_nxdata_group(tmp_path: Path) -> None:
    data = np.random.default_rng(5).random((2, 5, 7, 6)).astype("<f4")
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as f:
        f["entry/other"] = np.zeros((9, 9, 9, 9), np.int64)  # larger, but no convention names it
        group = f.create_group("entry/result")
        group.attrs.update({"NX_class": "NXdata", "signal": "counts", "axes": ["y", "x", ".", "."]})
        group["counts"] = data
        group["y"] = np.arange(2) * 3.0
        group["y"].attrs["units"] = "nm"
        group["x"] = np.arange(5) * 3.0
    desc = detect(str(path))
    assert desc["params"] == {"dataset": "/entry/result/counts"}
    assert desc["calibration"][0] == {"name": "y", "units": "nm", "scale": 3.0, "offset": 0.0}
    assert desc["calibration"][3]["scale"] is None
    check_against_numpy(open_dataset(str(path)), data.reshape(10, 7, 6), count=2)


def test_it_keeps_the_calibration_of_a_dataset_chosen_by_name(tmp_path: Path) -> None:
    # The registration page sends back the detected parameters ({"dataset": ...}); choosing
    # the datacube by name must not lose what the convention says about its axes.
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        group.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["y", "x", "ky", "kx"]})
        group["data"] = np.zeros((2, 3, 4, 4), np.uint16)
        for name, step, units in [("y", 2.5, "nm"), ("x", 2.5, "nm"), ("ky", 0.5, "mrad")]:
            group[name] = np.arange(4) * step
            group[name].attrs["units"] = units
        f["entry/other"] = np.zeros((5, 4, 4), np.uint8)  # named by no convention
    detected = detect(str(path))["calibration"]
    for params, target in [
        ({"dataset": "/entry/data/data"}, path),
        ({}, f"{path}:/entry/data/data"),
    ]:
        desc = open_dataset(str(target), params=params).describe()
        assert desc["calibration"] == detected
    assert [a["units"] for a in detected] == ["nm", "nm", "mrad", None]
    assert (
        open_dataset(str(path), params={"dataset": "/entry/other"})
        .describe()
        .get("calibration", [])
        == []
    )


def test_it_names_a_file_without_a_stack_of_frames(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["image"] = np.zeros((10, 10))
    with pytest.raises(DataSetError, match=r"flat\.h5: no dataset with at least 3 dimensions"):
        detect(str(tmp_path / "flat.h5"))
