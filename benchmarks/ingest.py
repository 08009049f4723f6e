"""Ingestion and locality figures on a 3-node local cluster (run on request, never in tests).

    python benchmarks/ingest.py                  # 2 GiB: 128 x 128 scan of 256 x 256 uint16
    python benchmarks/ingest.py --scan 64        # a quick run (512 MiB)
    BENCH_DATA=/fast/disk python benchmarks/ingest.py

Creates an uncompressed HDF5 dataset (once, in ``BENCH_DATA``, default ``.bench-data/``),
ingests it onto three node folders with a LocalCluster of three single-threaded worker
processes named ``node-a``, ``node-b``, ``node-c``, runs a ``virtual`` job on the ingested
copy (each partition on its node), and the same job on the HDF5 file read in place by one
worker (the single-node figure). Prints one JSON line per measurement. On one machine the
"nodes" share the disk, the page cache and the cores: the figures show the overhead and the
scheduling, not a cluster's aggregate bandwidth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from apps.core.analyses import make_analysis  # noqa: E402
from apps.core.executor import DaskExecutor  # noqa: E402
from apps.core.ingest import ingest, plan_folder  # noqa: E402
from apps.core.io import open_dataset  # noqa: E402

NODES = ["node-a", "node-b", "node-c"]
SIG = (256, 256)
DISK = {"shape": "disk", "cx": 128.0, "cy": 128.0, "r": 40.0}


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def make_source(folder: Path, scan: int) -> Path:
    path = folder / f"ingest-source-{scan}.h5"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        dset = f.create_dataset("/entry/data", shape=(scan, scan, *SIG), dtype="<u2")
        block = rng.integers(0, 4000, (scan, *SIG), dtype=np.uint16)
        for row in range(scan):
            dset[row] = np.roll(block, row, axis=0)
    tmp.rename(path)
    return path


def virtual_run(executor: DaskExecutor, path: str) -> dict[str, Any]:
    ds = open_dataset(path)
    analysis = make_analysis(
        "virtual", DISK, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    executor.run(ds, analysis)  # warm-up: worker imports, the first-read checksum
    runs = sorted((executor.run(ds, analysis) for _ in range(3)), key=lambda r: r.seconds)
    run = runs[1]  # the median of three
    per_node: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in run.partitions:
        per_node[r.worker][0] += r.nbytes
        per_node[r.worker][1] += r.seconds
    return {
        "gbs": run.nbytes / run.seconds / 1e9,
        "seconds": run.seconds,
        "per_node_gbs": {n: b / s / 1e9 for n, (b, s) in sorted(per_node.items()) if s},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=128, help="scan is SCAN x SCAN frames")
    parser.add_argument("--partitions", type=int, default=12)
    args = parser.parse_args()
    data = Path(os.environ.get("BENCH_DATA", ROOT / ".bench-data"))
    data.mkdir(parents=True, exist_ok=True)
    source = make_source(data, args.scan)
    work = data / "ingest-nodes"
    shutil.rmtree(work, ignore_errors=True)
    roots = {n: str(work / n) for n in NODES}
    for r in roots.values():
        Path(r).mkdir(parents=True)
    ds = open_dataset(f"{source}:/entry/data")
    emit(bench="dataset", gib=ds.nbytes / 2**30, shape=[*ds.nav_shape, *ds.sig_shape])

    cluster = DaskExecutor(None, worker_names=NODES, cluster_kwargs={"memory_limit": "2GiB"})
    try:
        cluster.client.wait_for_workers(len(NODES))
        folder = plan_folder(ds, args.partitions, "bench")
        t0 = time.perf_counter()
        ingest(
            ds,
            sidecar=str(work / "bench.json"),
            roots=roots,
            folder=folder,
            partitions=args.partitions,
            client=cluster.client,
        )
        secs = time.perf_counter() - t0
        emit(
            bench="ingest",
            nodes=3,
            partitions=args.partitions,
            seconds=secs,
            gbs=ds.nbytes / secs / 1e9,
        )
        emit(bench="virtual-ingested", nodes=3, **virtual_run(cluster, str(work / "bench.json")))
    finally:
        cluster.close()

    single = DaskExecutor(None, n_workers=1, cluster_kwargs={"memory_limit": "2GiB"})
    try:
        emit(
            bench="virtual-in-place",
            nodes=1,
            source="hdf5",
            **virtual_run(single, f"{source}:/entry/data"),
        )
    finally:
        single.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
