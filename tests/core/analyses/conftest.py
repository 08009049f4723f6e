"""Fixtures for the analysis tests: datasets written once per session, in every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy_reference import DatasetFactory, scan_data, write

from apps.core.io import DataSet, open_dataset


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetFactory:
    """``dataset(dtype, form="npy")`` -> ``(data, DataSet)``; each file is written once."""
    cache: dict[tuple[str, str], tuple[np.ndarray, DataSet]] = {}
    root = tmp_path_factory.mktemp("scans")

    def make(dtype: str, form: str = "npy") -> tuple[np.ndarray, DataSet]:
        key = (np.dtype(dtype).str, form)
        if key not in cache:
            data = scan_data(dtype)
            folder = Path(root) / f"{form}-{key[0].replace('<', 'le').replace('>', 'be')}"
            cache[key] = data, open_dataset(write(folder, data, form))
        return cache[key]

    return make
