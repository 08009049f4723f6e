"""The DaskExecutor's cost per partition in the driver: ``python benchmarks/dask_task_cost.py``.

Runs a virtual ring over a small raw float32 file of 256 x 256 frames split into many
partitions on a LocalCluster (two single-threaded workers, as ``manage.py serve`` starts),
and prints, per run of the analysis: the bytes of the task as it travels with each partition
(pickled), the driver process's CPU time per partition (``time.process_time``: its main thread
and dask's client and scheduler event loops, which a LocalCluster runs in this process) and
the wall time per partition. Medians over ``--runs``; also the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.core.analyses import make_analysis  # noqa: E402
from apps.core.executor import QUIET_CLUSTER, DaskExecutor  # noqa: E402
from apps.core.io import open_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--scan", type=int, default=16, help="scan side (frames = scan^2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        dir=ROOT / ".bench-data" if (ROOT / ".bench-data").is_dir() else None
    ) as tmp:
        path = Path(tmp) / "ring.raw"
        frames = np.random.default_rng(1).random((args.scan, args.scan, 256, 256), np.float32)
        frames.tofile(path)
        ds = open_dataset(
            str(path),
            format="raw",
            params={
                "nav_shape": [args.scan, args.scan],
                "sig_shape": [256, 256],
                "dtype": "float32",
            },
        )
        parts = ds.partitions(count=args.partitions)
        executor = DaskExecutor(n_workers=2)
        try:
            report(executor, ds, parts, args.runs)
        finally:
            executor.close()
    print(json.dumps({"dask_config": QUIET_CLUSTER}))


def report(executor: DaskExecutor, ds, parts, runs: int) -> None:
    load0 = os.getloadavg()[0]
    cpu, wall, sizes = [], [], []
    for k in range(runs + 2):  # two warm-up runs
        analysis = make_analysis(
            "virtual",
            {"shape": "ring", "cx": 128, "cy": 128, "ri": 20, "ro": 60 + k},
            nav_shape=ds.nav_shape,
            sig_shape=ds.sig_shape,
            dtype=ds.dtype,
        )
        sizes.append(len(pickle.dumps(analysis.task(), protocol=5)))
        c0, w0 = time.process_time(), time.perf_counter()
        executor.run(ds, analysis, partitions=parts)
        c1, w1 = time.process_time(), time.perf_counter()
        if k >= 2:
            cpu.append((c1 - c0) / len(parts) * 1e3)
            wall.append((w1 - w0) / len(parts) * 1e3)
    print(
        json.dumps(
            {
                "task_bytes": statistics.median(sizes),
                "partitions": len(parts),
                "driver_cpu_ms_per_partition": round(statistics.median(cpu), 2),
                "wall_ms_per_partition": round(statistics.median(wall), 2),
                "wall_ms_per_partition_all": [round(w, 1) for w in wall],
                "loadavg": [load0, os.getloadavg()[0]],
            }
        )
    )


if __name__ == "__main__":
    main()
