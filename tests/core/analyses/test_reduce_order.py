"""The reductions (``stddev``, ``fem``): partitions re-split, finished in shuffled order and
merged in any bracketing give the numpy reference (the merge is associative)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from numpy_reference import CASES, DatasetFactory, expected, roi

from apps.core.analyses import make_analysis

REDUCTIONS = ("stddev", "fem")


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize(("count", "seed"), [(1, 0), (5, 1), (13, 2), (91, 3)])
def test_partitions_merged_in_any_order_and_grouping_agree(
    dataset: DatasetFactory, name: str, count: int, seed: int
) -> None:
    data, ds = dataset("float32")
    analysis = make_analysis(
        name, CASES[name], nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    scan_roi = roi("disk")
    want = expected(name, CASES[name], data, scan_roi)
    flat_roi = scan_roi.reshape(-1)
    parts = [p for p in ds.partitions(count=count) if flat_roi[p.start : p.stop].any()]
    done = [(p, analysis.task()(p, flat_roi[p.start : p.stop], None)) for p in parts]
    random.Random(seed).shuffle(done)

    state = analysis.new_state()
    for partition, value in done:
        state = analysis.merge(state, partition, value)
    in_order = analysis.results(state)
    # the other bracketing: from the right, each value combined with all that follow it
    tree = done[-1][1]
    for _, value in reversed(done[:-1]):
        tree = analysis.combine(value, tree)
    bracketed = analysis.results(tree)

    for key, ref in want.items():
        scale = np.nanmax(np.abs(ref))
        for got in (in_order[key], bracketed[key]):
            assert got.dtype == np.float64
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * scale)
