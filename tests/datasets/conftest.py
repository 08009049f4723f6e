"""Users for the access matrix, a data root in tmp_path, and small data files in it.

owner and member share the group "lab"; outsider does not; staff sees everything.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest

from apps.core.io.raw import write_sidecar
from apps.datasets.folders import folder_declare
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_register


@pytest.fixture
def data_root(db: None, settings: Any, tmp_path: Path) -> Path:
    """``tmp_path/x/data``, the only data root, declared open to every signed-in user;
    ``tmp_path/x/data-evil`` sits next to it."""
    root = tmp_path / "x" / "data"
    root.mkdir(parents=True)
    (tmp_path / "x" / "data-evil").mkdir()
    settings.DATA_ROOTS = [root.resolve()]
    settings.DATA_NODES = {}
    folder_declare(path=str(root), open_to_all=True)
    return root.resolve()


@pytest.fixture
def npy_file(data_root: Path) -> Path:
    path = data_root / "scan.npy"
    np.save(path, np.arange(4 * 5 * 8 * 8, dtype=np.uint16).reshape(4, 5, 8, 8))
    return path


@pytest.fixture
def raw_sidecar(data_root: Path) -> Path:
    folder = data_root / "raw"
    folder.mkdir()
    np.ones((2, 3, 8, 8), dtype=np.float32).tofile(folder / "data.raw")
    path = folder / "scan.json"
    doc = {
        "dtype": "<f4",
        "nav_shape": [2, 3],
        "sig_shape": [8, 8],
        "path": "data.raw",
        "offset": 0,
    }
    write_sidecar(path, doc)
    return path


@pytest.fixture
def h5_file(data_root: Path) -> Path:
    path = data_root / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data", data=np.zeros((3, 4, 8, 8), dtype=np.uint8))
        f.create_dataset("/entry/small", data=np.zeros((2, 8, 8), dtype=np.uint8))
    return path


@pytest.fixture
def dataset(users: SimpleNamespace, npy_file: Path) -> Dataset:
    """alice's npy dataset, shared with "lab"."""
    return dataset_register(owner=users.owner, name="Scan 1", path=str(npy_file), groups=["lab"])
