"""A mask analysis's task travels as the analysis that builds its masks (a few hundred bytes),
not as the masks, and the stack a worker builds from it has the driver's bits."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy_reference import CASES, scan_data, write

from apps.core.analyses import Analysis, make_analysis, mask_recipe
from apps.core.analyses.base import MaskTask
from apps.core.executor import DaskExecutor, InlineExecutor
from apps.core.io import open_dataset

pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")

RING = {"shape": "ring", "cx": 30.5, "cy": 20.25, "ri": 4.0, "ro": 17.5}
BUILT = ["virtual", "com", "radial", "radial_fourier"]


def analysis_for(name: str, params: dict, sig_shape: tuple[int, int]) -> Analysis:
    return make_analysis(name, params, nav_shape=(4, 5), sig_shape=sig_shape, dtype="float32")


@pytest.mark.parametrize("name", BUILT)
def test_it_pickles_a_task_whose_size_does_not_grow_with_the_frame(name: str) -> None:
    sizes = []
    for side in (64, 256, 1024):
        task = analysis_for(name, CASES[name], (side, side)).task()
        sizes.append(len(pickle.dumps(task, protocol=5)))
    # the masks alone are 16 KiB at 64 x 64 and 4 MiB at 1024 x 1024 (float32, one mask)
    assert max(sizes) < 2000
    assert max(sizes) - min(sizes) < 16  # the frame's side, written as an integer


@pytest.mark.parametrize(
    ("name", "params"),
    [("virtual", RING), *[(name, CASES[name]) for name in BUILT]],
)
def test_it_builds_on_the_worker_the_masks_of_the_driver(name: str, params: dict) -> None:
    analysis = analysis_for(name, params, (48, 64))
    sent = pickle.loads(pickle.dumps(analysis.task(), protocol=5))
    assert isinstance(sent, MaskTask) and sent.recipe is not None
    built, driver = sent.masks, analysis.masks
    assert built is not driver
    assert built.dtype == driver.dtype and built.span == driver.span and built.box == driver.box
    np.testing.assert_array_equal(built.masks(), driver.masks())
    assert built.masks().tobytes() == driver.masks().tobytes()


def test_a_worker_builds_each_recipe_once_and_keeps_a_few() -> None:
    tasks = [
        pickle.dumps(analysis_for("virtual", {**RING, "ro": 10.0 + k}, (48, 64)).task())
        for k in range(mask_recipe.KEPT_STACKS + 2)
    ]
    first = pickle.loads(tasks[0]).masks
    assert pickle.loads(tasks[0]).masks is first
    for data in tasks[1:]:
        pickle.loads(data).masks  # noqa: B018 - builds the stack
    assert len(mask_recipe._kept) <= mask_recipe.KEPT_STACKS
    rebuilt = pickle.loads(tasks[0]).masks
    assert rebuilt is not first  # the oldest was dropped, and is built again the same
    np.testing.assert_array_equal(rebuilt.masks(), first.masks())


def test_user_masks_travel_as_masks() -> None:
    user = np.random.default_rng(3).random((2, 48, 64)).astype(np.float32)
    task = analysis_for("masks", {"masks": user}, (48, 64)).task()
    assert isinstance(task, MaskTask) and task.recipe is None
    sent = pickle.loads(pickle.dumps(task, protocol=5))
    np.testing.assert_array_equal(sent.masks.masks(), user)


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(n_workers=2, cluster_kwargs={"memory_limit": "1GiB"})
    yield executor
    executor.close()


def test_dask_workers_build_the_ring_and_give_the_inline_bits(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    data = scan_data("<f4", nav=(8, 9), sig=(48, 64))
    ds = open_dataset(write(tmp_path, data, "raw-parts"))
    analysis = make_analysis(
        "virtual", RING, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    on_dask = dask_executor.run(ds, analysis, partitions=ds.partitions(count=3))
    inline = InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=3))
    assert on_dask.results["intensity"].tobytes() == inline.results["intensity"].tobytes()
    recipe = analysis.task().recipe
    held = dask_executor.client.run(lambda: recipe in mask_recipe._kept)
    assert any(held.values())
