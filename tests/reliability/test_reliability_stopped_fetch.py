"""A worker that stops (SIGSTOP) after finishing a partition but before its result is fetched:
dask's fetch waits on the stopped process until the scheduler drops the worker (minutes), so
the run would wait as long. The executor's watch computes that partition again on a worker
that runs, and the run finishes with the right numbers.

The stop is exact, not a race: node-1's first partition result stops its own process as it is
pickled for the fetch, after node-1 has reported the partition finished.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import DaskExecutor
from apps.core.io import open_dataset
from apps.core.io.raw import write_sidecar
from tests.reliability.conftest import DaskProcesses
from tests.reliability.stopping import StoppingTask

NAV, SIG = (8, 16), (16, 16)
DISK = {"shape": "disk", "cx": 8, "cy": 7, "r": 5}


@pytest.mark.timeout(180)
def test_a_partition_whose_worker_stops_before_handing_it_over_runs_again(
    tmp_path: Path, dask_processes: DaskProcesses
) -> None:
    rng = np.random.default_rng(5)
    data = rng.integers(0, 4000, (*NAV, *SIG)).astype("<u2")
    (tmp_path / "scan.raw").write_bytes(data.tobytes())
    n = NAV[0] * NAV[1]
    entries = [{"path": "scan.raw", "start": 0, "stop": n, "nodes": []}]
    meta = {"dtype": "<u2", "nav_shape": list(NAV), "sig_shape": list(SIG), "partitions": entries}
    write_sidecar(tmp_path / "scan.json", meta)
    ds = open_dataset(str(tmp_path / "scan.json"))
    analysis = make_analysis(
        "virtual", DISK, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    marker = tmp_path / "stopped.pid"
    task = analysis.task
    analysis.task = lambda: StoppingTask(task(), str(marker))  # type: ignore[method-assign]

    executor = DaskExecutor(dask_processes.address, hung_after=2.0, unrunnable_after=60.0)
    try:
        run = executor.run(ds, analysis, partitions=executor.partitions(ds, min_count=8))
    finally:
        if marker.exists():
            os.kill(int(marker.read_text()), signal.SIGCONT)
        executor.close()

    assert marker.exists()  # node-1 did stop mid-run
    yy, xx = np.indices(SIG)
    disk = ((yy - 7) ** 2 + (xx - 8) ** 2 <= 25).astype(np.float64)
    expected = np.einsum("abij,ij->ab", data.astype(np.float64), disk)
    np.testing.assert_allclose(run.results["intensity"], expected, rtol=1e-6)
    assert len(run.partitions) == 8
    # node-1's held partition and those queued behind it were computed again on node-0
    assert "node-0" in {r.worker for r in run.partitions}
