"""``cluster``: frames of known groups are found again, and the mean frames are numpy's.

The scan holds three kinds of pattern in known regions: six-fold spots on a ring (each frame
turned by a random angle and with its own dose), four-fold spots on the same ring, and a
uniform ring of a smaller radius; Poisson noise on all. The float64 numpy reference over every
dtype, ROI, format and dask is in test_analysis_results.py and test_analysis_dask.py
(``CASES["cluster"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.executor import DaskExecutor, InlineExecutor, RunResult
from apps.core.io import open_dataset

NAV, SIG = (9, 12), (36, 40)
CY, CX = 17.5, 20.25
PARAMS = {"cx": CX, "cy": CY, "ro": 15.0, "clusters": 3}


def regions() -> np.ndarray:
    """The known group of every scan position: 0 left, 1 top right, 2 bottom right."""
    known = np.zeros(NAV, dtype=int)
    known[:, 5:] = 1
    known[6:, 8:] = 2
    return known


def grouped_scan(dtype: str, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.indices(SIG, dtype=np.float64)
    phi, d = np.arctan2(yy - CY, xx - CX), np.hypot(yy - CY, xx - CX)
    ring = np.exp(-((d - 11) ** 2) / 3)
    frames = np.empty((*NAV, *SIG))
    for (iy, ix), group in np.ndenumerate(regions()):
        dose = rng.uniform(0.6, 1.4)
        if group == 0:
            spots = ((1 + np.cos(6 * (phi - rng.uniform(0, np.pi)))) / 2) ** 4
            frames[iy, ix] = 60 * dose * ring * spots
        elif group == 1:
            frames[iy, ix] = 60 * dose * ring * ((1 + np.cos(4 * phi)) / 2) ** 4
        else:
            frames[iy, ix] = 20 * dose * np.exp(-((d - 6) ** 2) / 3)
    counts = rng.poisson(frames + 2.0)
    if np.dtype(dtype).kind == "f":
        return (counts * 0.37).astype(dtype)  # a calibration: counts in some unit
    return counts.astype(dtype)


def run_cluster(
    path: str, params: dict[str, Any], *, roi=None, executor=None, count: int = 3
) -> RunResult:
    ds = open_dataset(path)
    analysis = make_analysis(
        "cluster", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    executor = executor or InlineExecutor()
    return executor.run(ds, analysis, roi=roi, partitions=ds.partitions(count=count))


def assert_same_groups(labels: np.ndarray, known: np.ndarray) -> None:
    """Equal up to a renumbering: each found cluster is exactly one known group."""
    pairs = {(int(a), int(b)) for a, b in zip(labels.ravel(), known.ravel(), strict=True)}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs}), pairs


def numpy_means(data: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    frames = data.astype(np.float64)
    return np.stack([frames[labels == j].mean(axis=0) for j in range(k)], axis=-1)


@pytest.mark.parametrize("dtype", ["<u2", "float32", ">f8", "|u1"])
def test_it_finds_the_known_groups_and_their_mean_frames(tmp_path, dtype: str) -> None:
    data = grouped_scan(dtype)
    np.save(tmp_path / "scan.npy", data)
    got = run_cluster(str(tmp_path / "scan.npy"), PARAMS).results
    labels = got["labels"]
    assert labels.dtype == np.float64 and labels.shape == NAV
    assert_same_groups(labels, regions())
    np.testing.assert_array_equal(labels, regions())  # numbered by first frame in scan order
    assert got["means"].shape == (*SIG, 3)
    want = numpy_means(data, regions(), 3)
    np.testing.assert_allclose(got["means"], want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_it_clusters_the_roi_only_and_is_the_same_on_dask(tmp_path) -> None:
    data = grouped_scan("<u2", seed=9)
    np.save(tmp_path / "scan.npy", data)
    scan_roi = np.ones(NAV, dtype=bool)
    scan_roi[2:7, 3:10] = False
    inline = run_cluster(str(tmp_path / "scan.npy"), PARAMS, roi=scan_roi, count=1).results
    assert np.isnan(inline["labels"][~scan_roi]).all()
    assert_same_groups(inline["labels"][scan_roi], regions()[scan_roi])
    labels = np.where(scan_roi, regions(), -1)
    want = numpy_means(data, labels, 3)
    np.testing.assert_allclose(inline["means"], want, rtol=1e-12, atol=1e-9)
    executor = DaskExecutor(n_workers=2, cluster_kwargs={"memory_limit": "1GiB"})
    try:
        progress: list[tuple[int, int]] = []
        distributed = run_cluster(
            str(tmp_path / "scan.npy"), PARAMS, roi=scan_roi, executor=executor, count=7
        )
        on_dask = executor.run(
            open_dataset(str(tmp_path / "scan.npy")),
            make_analysis("cluster", PARAMS, nav_shape=NAV, sig_shape=SIG, dtype="<u2"),
            roi=scan_roi,
            on_progress=lambda done, total, partial: progress.append((done, total)),
        )
    finally:
        executor.close()
    for result in (distributed, on_dask):
        np.testing.assert_array_equal(result.results["labels"], inline["labels"])
        np.testing.assert_allclose(result.results["means"], inline["means"], rtol=1e-12)
    frames = int(scan_roi.sum())
    assert progress[-1] == (2 * frames, 2 * frames) == (on_dask.frames, on_dask.frames)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_the_preview_is_empty_until_the_labels_are_known(tmp_path) -> None:
    np.save(tmp_path / "scan.npy", grouped_scan("<u2"))
    ds = open_dataset(str(tmp_path / "scan.npy"))
    analysis = make_analysis("cluster", PARAMS, nav_shape=NAV, sig_shape=SIG, dtype="<u2")
    seen: list[tuple[int, bool]] = []

    def progress(done: int, total: int, partial: dict[str, np.ndarray]) -> None:
        seen.append((done, bool(np.isnan(partial["labels"]).all())))

    InlineExecutor().run(ds, analysis, on_progress=progress, partitions=ds.partitions(count=2))
    n = NAV[0] * NAV[1]
    assert seen == [(n // 2, True), (n, True), (n + n // 2, False), (2 * n, False)]


def test_it_refuses_more_clusters_than_frames_naming_the_field(tmp_path) -> None:
    np.save(tmp_path / "scan.npy", grouped_scan("<u2"))
    scan_roi = np.zeros(NAV, dtype=bool)
    scan_roi[0, :2] = True
    with pytest.raises(ParameterError) as info:
        run_cluster(str(tmp_path / "scan.npy"), PARAMS, roi=scan_roi)
    assert info.value.field == "clusters" and "(2), got 3" in info.value.message


def test_it_splits_into_uneven_partitions_with_the_same_labels(tmp_path) -> None:
    np.save(tmp_path / "scan.npy", grouped_scan("float32"))
    runs = [run_cluster(str(tmp_path / "scan.npy"), PARAMS, count=n).results for n in (1, 5, 108)]
    for other in runs[1:]:
        np.testing.assert_array_equal(other["labels"], runs[0]["labels"])
        np.testing.assert_allclose(other["means"], runs[0]["means"], rtol=1e-12)
