"""Every analysis on a real dask cluster (2 worker processes) against the numpy reference."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from bragg_frames import SMALL, write_strained_scan
from numpy_reference import CASES, DatasetFactory, check_results, roi

from apps.core.analyses import Analysis, make_analysis
from apps.core.executor import DaskExecutor, InlineExecutor
from apps.core.io import DataSet, open_dataset

# Another local cluster (a developer's, a parallel run) may hold the default HTTP port.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")


def case_analysis(name: str, ds: DataSet) -> Analysis:
    """Analysis ``name`` with its standard parameters (``CASES``) for ``ds``."""
    return make_analysis(
        name, CASES[name], nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )


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
    analysis = case_analysis(name, ds)
    scan_roi = roi(kind)
    progress: list[int] = []
    result = dask_executor.run(
        ds, analysis, roi=scan_roi, on_progress=lambda done, total, partial: progress.append(done)
    )
    check_results(name, CASES[name], data, scan_roi, result.results)
    assert progress == sorted(progress) and progress[-1] == result.frames
    assert {r.worker for r in result.partitions} <= {"0", "1"}


@pytest.mark.parametrize(
    "name", ["virtual", "com", "sum", "stddev", "radial_fourier", "fem", "cluster"]
)
def test_it_splits_a_single_file_into_uneven_partitions(
    dask_executor: DaskExecutor, dataset: DatasetFactory, name: str
) -> None:
    data, ds = dataset("<f8", "hdf5-chunked")
    analysis = case_analysis(name, ds)
    result = dask_executor.run(ds, analysis, roi=roi("disk"), partitions=ds.partitions(count=4))
    check_results(name, CASES[name], data, roi("disk"), result.results)
    assert np.isnan(result.results.get("intensity", np.array(np.nan))).any() or name != "virtual"


def test_strain_on_dask_equals_inline_with_partitions_re_split(
    dask_executor: DaskExecutor, tmp_path
) -> None:
    known = write_strained_scan(tmp_path / "scan.npy", SMALL, (6, 7), dose=300)
    ds = open_dataset(str(tmp_path / "scan.npy"))
    params = {"reference": "region", **SMALL.params(), "search": 2.0, "ref_y": 0, "ref_x": 0}
    analysis = make_analysis(
        "strain", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    inline = InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=2)).results
    on_dask = dask_executor.run(ds, analysis, partitions=ds.partitions(count=5)).results
    assert sorted(on_dask) == sorted(inline)
    for name, value in inline.items():
        np.testing.assert_array_equal(on_dask[name], value, err_msg=name)
    # and the lattices are the synthetic ones (a few disks on a small noisy frame: 0.1 px)
    np.testing.assert_allclose(inline["a_x"], known["truth"][..., 3], rtol=0, atol=0.1)


@pytest.mark.parametrize("count", [3, 13])
@pytest.mark.parametrize("name", ["stddev", "fem"])
def test_reductions_merge_resplit_partitions_in_completion_order(
    dask_executor: DaskExecutor, dataset: DatasetFactory, name: str, count: int
) -> None:
    data, ds = dataset("<u2", "raw")
    analysis = case_analysis(name, ds)
    result = dask_executor.run(
        ds, analysis, roi=roi("random"), partitions=ds.partitions(count=count)
    )
    assert len(result.partitions) == count
    check_results(name, CASES[name], data, roi("random"), result.results)
    inline = InlineExecutor().run(
        ds, analysis, roi=roi("random"), partitions=ds.partitions(count=2)
    )
    for key, array in inline.results.items():
        np.testing.assert_allclose(result.results[key], array, rtol=1e-12)
