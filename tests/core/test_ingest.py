"""Core ingestion in one process: HDF5 -> partitions on three node folders + sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.errors import CoreError, DataSetError
from apps.core.executor import InlineExecutor
from apps.core.ingest import ingest, placement, plan_folder
from apps.core.io import open_dataset
from apps.core.io.noderaw import NodeRawPartition
from apps.core.io.storage import NodeStorage
from apps.core.verify import verify

NAV, SIG = (6, 10), (16, 20)
NODES = ("node-a", "node-b", "node-c")
DISK = {"shape": "disk", "cx": 9.5, "cy": 7.0, "r": 5.0}


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 4000, (*NAV, *SIG)).astype(">u2")


@pytest.fixture
def source(tmp_path: Path, data: np.ndarray) -> str:
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data", data=data, chunks=(1, 3, *SIG))
    return f"{path}:/entry/data"


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, str]:
    out = {}
    for n in NODES:
        (tmp_path / n).mkdir()
        out[n] = str(tmp_path / n)
    return out


def run_ingest(tmp_path: Path, source: str, roots: dict[str, str], **kw: object) -> dict:
    ds = open_dataset(source)
    folder = plan_folder(ds, 6, "ds-1")
    sidecar = tmp_path / "ingested.json"
    return ingest(ds, sidecar=str(sidecar), roots=roots, folder=folder, partitions=6, **kw)


def intensity(sidecar: Path, roots: dict[str, str]) -> np.ndarray:
    ds = open_dataset(str(sidecar), node_roots=roots)
    analysis = make_analysis(
        "virtual", DISK, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    return InlineExecutor().run(ds, analysis).results["intensity"]


def reference(data: np.ndarray) -> np.ndarray:
    yy, xx = np.indices(SIG)
    disk = (yy - 7.0) ** 2 + (xx - 9.5) ** 2 <= 25.0
    return np.einsum("abij,ij->ab", data.astype(np.float64), disk.astype(np.float64))


def test_placement_round_robin_and_by_free_space() -> None:
    assert placement(4, ["a", "b", "c"]) == [["a"], ["b"], ["c"], ["a"]]
    assert placement(3, ["a", "b", "c"], replicas=2) == [["a", "b"], ["b", "c"], ["c", "a"]]
    free = {"a": 100, "b": 300, "c": 150}
    assert placement(3, ["a", "b", "c"], free=free, nbytes=100) == [["b"], ["b"], ["c"]]
    with pytest.raises(CoreError, match="replicas must be between 1 and the number of nodes"):
        placement(2, ["a"], replicas=2)


def test_it_writes_each_partition_only_to_its_nodes(
    tmp_path: Path, source: str, roots: dict[str, str], data: np.ndarray
) -> None:
    doc = run_ingest(tmp_path, source, roots)
    sidecar = json.loads((tmp_path / "ingested.json").read_text())
    assert [p["nodes"] for p in sidecar["partitions"]] == [[NODES[i % 3]] for i in range(6)]
    assert sidecar["dtype"] == ">u2" and sidecar["node_roots"] == roots
    for p in doc["partitions"]:
        for n in NODES:
            assert (Path(roots[n]) / p["path"]).exists() == (n in p["nodes"])
        raw = (Path(roots[p["nodes"][0]]) / p["path"]).read_bytes()
        assert raw == data.reshape(-1, *SIG)[p["start"] : p["stop"]].tobytes()
    assert not list(tmp_path.rglob("*.tmp"))
    np.testing.assert_allclose(
        intensity(tmp_path / "ingested.json", roots), reference(data), rtol=1e-5
    )


def test_a_rerun_keeps_intact_partitions_and_rewrites_damaged_ones(
    tmp_path: Path, source: str, roots: dict[str, str]
) -> None:
    first = run_ingest(tmp_path, source, roots, replicas=2)
    assert all(len(p["written"]) == 2 for p in first["partitions"])
    p3 = first["partitions"][3]
    (Path(roots[p3["nodes"][1]]) / p3["path"]).write_bytes(b"broken")
    second = run_ingest(tmp_path, source, roots, replicas=2)
    assert [p["written"] for p in second["partitions"]] == [
        [p3["nodes"][1]] if i == 3 else [] for i in range(6)
    ]


def test_a_corrupt_partition_fails_the_read_and_verify_names_it(
    tmp_path: Path, source: str, roots: dict[str, str]
) -> None:
    doc = run_ingest(tmp_path, source, roots)
    p2 = doc["partitions"][2]
    path = Path(roots[p2["nodes"][0]]) / p2["path"]
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataSetError, match=r"partition 2 .* on node node-c is corrupt"):
        intensity(tmp_path / "ingested.json", roots)
    report = verify(str(tmp_path / "ingested.json"), node_roots=roots)
    bad = [r for r in report if r["status"] != "ok"]
    assert [(r["index"], r["node"], r["status"]) for r in bad] == [(2, "node-c", "corrupt")]
    path.write_bytes(bytes(raw[:50]))
    with pytest.raises(DataSetError, match=r"partition 2 .* has 50 bytes"):
        intensity(tmp_path / "ingested.json", roots)
    path.unlink()
    assert [r["status"] for r in verify(str(tmp_path / "ingested.json"), node_roots=roots)][
        2
    ] == "missing"
    with pytest.raises(DataSetError, match=r"partition 2 .* no copy is visible in this process"):
        intensity(tmp_path / "ingested.json", roots)


def test_a_partition_refuses_a_worker_that_does_not_hold_it(
    tmp_path: Path, source: str, roots: dict[str, str]
) -> None:
    run_ingest(tmp_path, source, roots)
    parts = open_dataset(str(tmp_path / "ingested.json"), node_roots=roots).partitions()
    assert all(isinstance(p, NodeRawPartition) for p in parts)
    with pytest.raises(DataSetError, match=r"partition 0 .* stored on node\(s\) node-a, not on"):
        parts[0].locate("node-b")


def test_an_hdfs_root_without_libhdfs_says_what_is_missing() -> None:
    storage = NodeStorage("node-h", "hdfs://127.0.0.1:9/libertem")
    with pytest.raises(DataSetError, match=r"node node-h: .*hdfs://.*libhdfs and a Java runtime"):
        storage.size("ds-1/part-00000.raw")


def test_a_file_uri_root_is_a_local_folder(tmp_path: Path) -> None:
    storage = NodeStorage("node-a", f"file://{tmp_path}")
    sha = storage.write("d/x.raw", [b"abc"])
    assert (tmp_path / "d" / "x.raw").read_bytes() == b"abc" and storage.sha256("d/x.raw") == sha
