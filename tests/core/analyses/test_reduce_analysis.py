"""The reduction interface: a partition's tiles folded into one value, values combined pairwise
in any order, a finish over the merged value (a toy count-and-sum analysis, not registered)."""

from __future__ import annotations

import random

import numpy as np
from numpy_reference import scan_data

from apps.core.analyses.base import ReduceAnalysis, TileReduction
from apps.core.analyses.declaration import AnalysisDeclaration, Result
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset


class CountSum(TileReduction):
    def start(self, partition):
        return 0, np.zeros(partition.frame_size)

    def add(self, value, first, tile):
        count, total = value
        return count + tile.shape[0], total + tile.sum(axis=0, dtype=np.float64)


class CountSumAnalysis(ReduceAnalysis):
    declaration = AnalysisDeclaration(
        name="count_sum",
        title="Count and sum",
        summary="How many frames were read, and their sum.",
        results=(
            Result("sum", "sig", "Sum of the frames read.", unit="data", dtype="float64"),
            Result("mean", "sig", "Mean of the frames read.", unit="data", dtype="float64"),
        ),
        preview="sum",
    )

    def task(self):
        return CountSum()

    def combine(self, a, b):
        return a[0] + b[0], a[1] + b[1]

    def finish(self, value):
        count, total = value if value is not None else (0, np.zeros(self.sig_shape))
        total = np.reshape(total, self.sig_shape)
        return {"sum": total, "mean": total / count if count else np.full(self.sig_shape, np.nan)}


def test_partitions_merged_in_any_order_give_the_whole_scan(tmp_path):
    data = scan_data("uint16")
    np.save(tmp_path / "data.npy", data)
    ds = open_dataset(str(tmp_path / "data.npy"))
    analysis = CountSumAnalysis({}, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype)
    want = data.reshape(-1, *ds.sig_shape).sum(axis=0, dtype=np.float64)

    assert np.isnan(analysis.results(analysis.new_state())["mean"]).all()
    parts = ds.partitions(count=5)
    values = [(p, analysis.task()(p, None, None)) for p in parts]
    random.Random(3).shuffle(values)
    state = analysis.new_state()
    for partition, value in values:
        state = analysis.merge(state, partition, value)
    assert state[0] == data.shape[0] * data.shape[1]
    got = analysis.results(state)
    np.testing.assert_array_equal(got["sum"], want)
    np.testing.assert_allclose(got["mean"], want / state[0], rtol=1e-15)

    run = InlineExecutor().run(ds, analysis, partitions=ds.partitions(count=3))
    np.testing.assert_array_equal(run.results["sum"], want)


def test_frames_outside_the_roi_are_not_read(tmp_path):
    data = scan_data("float32")
    np.save(tmp_path / "data.npy", data)
    ds = open_dataset(str(tmp_path / "data.npy"))
    analysis = CountSumAnalysis({}, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype)
    roi = np.zeros(ds.nav_shape, dtype=bool)
    roi[1, 2:5] = True
    run = InlineExecutor().run(ds, analysis, roi=roi, partitions=ds.partitions(count=2))
    want = data[roi].astype(np.float64)
    np.testing.assert_allclose(run.results["sum"], want.sum(axis=0))
    np.testing.assert_allclose(run.results["mean"], want.mean(axis=0), rtol=1e-12)
