"""A result depends only on the partitioning: the same bits on the inline executor (compiled
loops on every core) and on dask (single-threaded workers finishing in any order), and
whatever order the partitions arrive in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy_reference import CASES, scan_data, write

from apps.core import kernels
from apps.core.analyses import Analysis, make_analysis
from apps.core.executor import DaskExecutor, InlineExecutor
from apps.core.io import DataSet, open_dataset
from apps.core.runplan import RunPlan, RunRequest

pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")
NAV = (24, 20)


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(n_workers=2, cluster_kwargs={"memory_limit": "1GiB"})
    yield executor
    executor.close()


@pytest.fixture(scope="module", params=["<u2", "<f4"])
def scan(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    folder = Path(tmp_path_factory.mktemp("bits"))
    return open_dataset(write(folder, scan_data(request.param, nav=NAV), "npy"))


def analysis(name: str, ds: DataSet) -> Analysis:
    return make_analysis(
        name, CASES[name], nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )


def assert_same_bits(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), f"{name} differs in its bits"


@pytest.mark.parametrize("name", tuple(CASES))
def test_inline_and_dask_give_the_same_bits(
    dask_executor: DaskExecutor, scan: DataSet, name: str
) -> None:
    task = analysis(name, scan)
    with kernels.threads(2):  # the compiled loops on two threads, as on a 2-core machine
        inline = InlineExecutor().run(scan, task, partitions=scan.partitions(count=5)).results
    for _ in range(2):  # the workers finish the partitions in whatever order they can
        on_dask = dask_executor.run(scan, task, partitions=scan.partitions(count=5)).results
        assert_same_bits(inline, on_dask)


@pytest.mark.parametrize("name", ["sum", "stddev", "std", "radial_fourier", "fem"])
def test_partitions_arriving_backwards_fold_in_their_order(scan: DataSet, name: str) -> None:
    task = analysis(name, scan)
    parts = scan.partitions(count=6)
    compute = task.task()
    values = [compute(p, None, None) for p in parts]

    def fold(order: list[int]) -> tuple[dict[str, np.ndarray], list[int]]:
        seen: list[int] = []
        plan = RunPlan(
            RunRequest(scan, task, on_progress=lambda done, total, partial: seen.append(done)),
            parts,
        )
        for k in order:
            plan.merge(parts[k], None, values[k], "here", 0.0)
        return plan.finish().results, seen

    forwards, _ = fold(list(range(6)))
    backwards, progress = fold(list(reversed(range(6))))
    assert_same_bits(forwards, backwards)
    if name in ("sum", "stddev", "fem"):  # sums: folded in order, nothing until the first is in
        assert task.merge_in_order
        assert progress == [scan.n_frames]
    else:  # rows placed where they belong: each partition shows as it arrives
        assert not task.merge_in_order
        sizes = [p.stop - p.start for p in reversed(parts)]
        assert progress == list(np.cumsum(sizes))
