"""Electron-counted (CSR) datasets register through the API like every format: detected from
their files, every file they name inside the data roots, all of them in the identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from apps.core.io.hdf5_csr import write_h5_csr
from apps.core.io.raw_csr import write_raw_csr
from apps.datasets.models import Dataset


def post(client, body):  # type: ignore[no-untyped-def]
    return client.post("/api/datasets/", json.dumps(body), content_type="application/json")


def csr_arrays() -> dict[str, np.ndarray]:
    """Two frames of 3 x 4 pixels: three events, then none."""
    return {
        "indptr": np.array([0, 3, 3], np.int64),
        "indices": np.array([1, 5, 11], np.int32),
        "values": np.array([1, 2, 1], np.uint8),
    }


def test_it_registers_a_raw_csr_descriptor_and_its_three_files(users, data_root, client_for):
    write_raw_csr(data_root / "scan.toml", **csr_arrays(), nav_shape=[2], sig_shape=[3, 4])
    response = post(client_for(users.owner), {"name": "counted", "path": "scan.toml"})
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["format"], data["nav_shape"], data["sig_shape"], data["dtype"]) == (
        "raw_csr",
        [2],
        [3, 4],
        "|u1",
    )
    files = Dataset.objects.get(pk=data["id"]).identity["files"]
    assert sorted(Path(f["path"]).name for f in files) == [
        "scan.indices",
        "scan.indptr",
        "scan.toml",
        "scan.values",
    ]


def test_it_registers_an_hdf5_csr_group(users, data_root, client_for):
    write_h5_csr(str(data_root / "c.h5"), **csr_arrays(), nav_shape=[1, 2], sig_shape=[3, 4])
    response = post(client_for(users.owner), {"name": "counted", "path": "c.h5"})
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["format"], data["nav_shape"], data["params"]) == (
        "hdf5_csr",
        [1, 2],
        {"group": "/events"},
    )


def test_a_descriptor_naming_a_file_outside_the_data_roots_is_refused(users, data_root, client_for):
    evil = data_root.parent / "data-evil"
    write_raw_csr(evil / "scan.toml", **csr_arrays(), nav_shape=[2], sig_shape=[3, 4])
    text = (evil / "scan.toml").read_text().replace('"scan.', '"../data-evil/scan.')
    (data_root / "scan.toml").write_text(text)
    response = post(client_for(users.owner), {"name": "counted", "path": "scan.toml"})
    assert response.status_code == 400
    message = response.json()["fields"]["path"]
    assert "raw_csr.indptr_file" in message and "outside the data folders" in message
    assert not Dataset.objects.exists()
