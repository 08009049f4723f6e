"""Every analysis on a real dask cluster (2 worker processes) against the numpy reference."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from numpy_reference import CASES, DatasetFactory, check_results, roi

from apps.core.analyses import make_analysis
from apps.core.executor import DaskExecutor

# Another local cluster (a developer's, a parallel run) may hold the default HTTP port.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(n_workers=2, cluster_kwargs={"memory_limit": "1GiB"})
    yield executor
    executor.close()


@pytest.mark.parametrize("kind", ["none", "random"])
@pytest.mark.parametrize("name", tuple(CASES))
def test_it_matches_the_reference_on_dask(
    dask_executor: DaskExecutor, dataset: DatasetFactory, name: str, kind: str
) -> None:
    data, ds = dataset(">i4", "raw-parts")
    analysis = make_analysis(
        name, CASES[name], nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    scan_roi = roi(kind)
    progress: list[int] = []
    result = dask_executor.run(
        ds, analysis, roi=scan_roi, on_progress=lambda done, total, partial: progress.append(done)
    )
    check_results(name, CASES[name], data, scan_roi, result.results)
    assert progress == sorted(progress) and progress[-1] == result.frames
    assert {r.worker for r in result.partitions} <= {"0", "1"}


@pytest.mark.parametrize("name", ["virtual", "com", "sum"])
def test_it_splits_a_single_file_into_uneven_partitions(
    dask_executor: DaskExecutor, dataset: DatasetFactory, name: str
) -> None:
    data, ds = dataset("<f8", "hdf5-chunked")
    analysis = make_analysis(
        name, CASES[name], nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    result = dask_executor.run(ds, analysis, roi=roi("disk"), partitions=ds.partitions(count=4))
    check_results(name, CASES[name], data, roi("disk"), result.results)
    assert np.isnan(result.results.get("intensity", np.array(np.nan))).any() or name != "virtual"
