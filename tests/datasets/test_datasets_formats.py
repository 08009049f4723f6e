"""Every real detector file of ../shared/testdata registers through the API with the right
shape, dtype and calibration; unsupported layouts and correction maps are explained."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apps.core.errors import DataSetError
from apps.datasets.models import Dataset

MERLIN = [
    # (file inside the unpacked zips, params, nav_shape, sig_shape, dtype)
    ("Merlin_Single_Quad/Single_9_Frame_CounterDepth_1_Rows_256.mib", {}, [9], [256, 256], "|u1"),
    ("Merlin_Single_Quad/Single_9_Frame_CounterDepth_6_Rows_256.mib", {}, [9], [256, 256], "|u1"),
    ("Merlin_Single_Quad/Single_9_Frame_CounterDepth_12_Rows_256.mib", {}, [9], [256, 256], "<u2"),
    ("Merlin_Single_Quad/Single_9_Frame_CounterDepth_24_Rows_256.mib", {}, [9], [256, 256], "<u4"),
    (
        "Merlin_Single_Quad/Single_1_Frame_CounterDepth_1_Rows_256RAW.mib",
        {},
        [1],
        [256, 256],
        "|u1",
    ),
    ("Merlin_Single_Quad/Quad_9_Frame_CounterDepth_12_Rows_256.mib", {}, [9], [512, 512], "<u2"),
    ("Merlin_Single_Quad/Quad_1_Frame_CounterDepth_24_Rows_256.mib", {}, [1], [512, 512], "<u4"),
    (
        "Merlin_navigation4x2_ROI/002_4x2_6bit_roi128.mib",
        {"nav_shape": [2, 4]},
        [2, 4],
        [128, 256],
        "|u1",
    ),
    (
        "Merlin_navigation4x2_signalNx256_ROI/"
        "003_merlin_test_roi_sig256x64_nav4x2_hot_pixel_52x_39y.hdr",
        {},
        [2, 4],
        [64, 256],
        "<u2",
    ),
]


@pytest.fixture
def real_root(shared_testdata: Path, data_root: Path) -> Path:
    """The shared test files copied (Merlin zips unpacked) into a data root."""
    for name in ("arina", "emd"):
        shutil.copytree(shared_testdata / name, data_root / name)
    for zipped in (shared_testdata / "merlin").glob("*.zip"):
        with zipfile.ZipFile(zipped) as z:
            z.extractall(data_root / zipped.stem)
    return data_root


def post(client, body):  # type: ignore[no-untyped-def]
    return client.post("/api/datasets/", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(("name", "params", "nav", "sig", "dtype"), MERLIN)
def test_it_registers_real_merlin_files(
    users, real_root, client_for, name, params, nav, sig, dtype
):
    response = post(client_for(users.owner), {"name": "m", "path": name, "params": params})
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["format"], data["nav_shape"], data["sig_shape"], data["dtype"]) == (
        "mib",
        nav,
        sig,
        dtype,
    )


@pytest.mark.parametrize(
    ("name", "fmt", "nav", "sig", "dtype", "units"),
    [
        ("arina/test_00_master.h5", "arina", [16], [192, 192], "<u4", None),
        ("emd/Si100_4D.emd", "hdf5", [11, 11], [8, 8], "<f4", "[n_m]"),
        ("emd/py4DSTEM_size2x3x4x5.h5", "hdf5", [2, 3], [4, 5], "<f4", "nm"),
    ],
)
def test_it_registers_real_hdf5_files_with_their_calibration(
    users, real_root, client_for, name, fmt, nav, sig, dtype, units
):
    response = post(client_for(users.owner), {"name": "h", "path": name})
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["format"], data["nav_shape"], data["sig_shape"], data["dtype"]) == (
        fmt,
        nav,
        sig,
        dtype,
    )
    row = Dataset.objects.get()
    assert (row.calibration[0]["units"] if row.calibration else None) == units


def test_it_says_quad_raw_is_not_supported(users, real_root, client_for):
    name = "Merlin_Single_Quad/Quad_9_Frame_CounterDepth_1_Rows_256RAW.mib"
    response = post(client_for(users.owner), {"name": "q", "path": name})
    assert response.status_code == 400
    assert "RAW (R64) frames of a 2x2 detector" in json.dumps(response.json())
    assert not Dataset.objects.exists()


def test_it_registers_corrections_inside_the_data_roots_only(users, data_root, client_for):
    np.save(data_root / "scan.npy", np.ones((2, 3, 4, 5), np.uint16))
    np.save(data_root / "dark.npy", np.full((4, 5), 0.5))
    np.save(data_root.parent / "gain.npy", np.ones((4, 5)))
    client = client_for(users.owner)
    body = {"name": "c", "path": "scan.npy", "params": {"dark": "dark.npy"}}
    response = post(client, body)
    assert response.status_code == 201, response.json()
    assert (response.json()["dtype"], response.json()["params"]) == ("<f4", {"dark": "dark.npy"})
    response = post(client, {**body, "params": {"gain": "../gain.npy"}})
    assert response.status_code == 400
    assert "gain" in response.json()["fields"]["params"]


def test_a_merlin_dataset_registered_big_endian_still_opens(users, real_root, client_for):
    """Catalogues from before e4c14b0 recorded Merlin's 16-bit pixels as '>u2'; the reader now
    gives them little-endian. The byte order is the reader's choice: the row still opens, and
    the same file with another layout is still refused."""
    from apps.datasets.services import dataset_open

    name = "Merlin_Single_Quad/Single_9_Frame_CounterDepth_12_Rows_256.mib"
    created = post(client_for(users.owner), {"name": "m", "path": name}).json()
    Dataset.objects.filter(pk=created["id"]).update(dtype=">u2")
    ds = dataset_open(Dataset.objects.get(pk=created["id"]))
    assert ds.dtype == np.dtype("<u2")
    Dataset.objects.filter(pk=created["id"]).update(dtype=">u4")
    with pytest.raises(DataSetError, match="changed since it was registered"):
        dataset_open(Dataset.objects.get(pk=created["id"]))
