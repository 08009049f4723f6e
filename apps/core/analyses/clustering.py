"""Clustering: frames grouped by the kind of pattern they show (k-means), a label map and the
mean frame of each group.

The features of a frame are its radial Fourier magnitudes (:mod:`.radial_fourier`, the same
parameters ``cx, cy, ri, ro, bins, max_order``): per ring its share of the frame's intensity in
all rings, ``|c[b, 0]| / sum_b |c[b, 0]|``, and its symmetry, ``|c[b, n]| / |c[b, 0]|`` for
``n = 1 .. max_order``; all from 0 to 1 for non-negative data, so no feature outweighs the others
by its unit. They do not change when a pattern rotates in the plane or the dose changes: frames
of one phase (six-fold spots on a ring of some radius) group together, whatever their
orientation and thickness; two phases differ in symmetry or in ring radius. The alternative,
the intensities at the brightest pixels of the standard-deviation frame, would need a pass for
that frame before the features, and separates orientations rather than phases.

Two passes over the frames (:attr:`Analysis.passes`):

1. the features, one mask product per partition (the GEMM path of ``radial_fourier``); after
   all partitions, scikit-learn's ``KMeans(clusters, n_init=10, random_state=0)`` over the
   features of the frames analysed (the ROI's), on the driver;
2. the sum and count of the frames of each cluster (a :class:`ReduceAnalysis`, float64,
   partitions merged in any order): ``means = sums / counts``.

Clusters are numbered by their first frame in scan order (cluster 0 holds the first frame
analysed), so the labels do not depend on k-means's internal numbering.

Results: ``labels`` (scan, float64 0 .. clusters - 1, NaN outside the ROI and until the first
pass ends), ``means`` (``(sy, sx, clusters)`` float64: ``means[..., j]`` is cluster j's mean frame; NaN
for a cluster without frames),
``features`` (scan x features, the compute dtype).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from apps.core.analyses.base import ReduceAnalysis, TileReduction
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.radial_fourier import RadialFourierAnalysis
from apps.core.errors import ParameterError
from apps.core.io.base import Partition

MAX_CLUSTERS = 64
#: k-means restarts from different seeds; the best (least within-cluster variance) is kept.
N_INIT = 10

_RINGS = RadialFourierAnalysis.declaration.params
DECLARATION = AnalysisDeclaration(
    name="cluster",
    title="Clusters of similar frames (k-means)",
    summary="Frames grouped by the symmetry and radial distribution of their intensity "
    "(radial Fourier features, k-means): a label map and the mean frame of each group.",
    params=(
        *_RINGS[:4],
        dataclasses.replace(_RINGS[4], default=4),
        dataclasses.replace(_RINGS[5], default=8),
        Param(
            "clusters",
            "integer",
            "How many groups k-means forms.",
            default=3,
            minimum=2,
            maximum=MAX_CLUSTERS,
        ),
    ),
    results=(
        Result("labels", "nav", "The cluster of each scan position.", dtype="float64"),
        Result(
            "means",
            "sig+clusters",
            "The mean frame of each cluster (last axis).",
            unit="data",
            dtype="float64",
            display="channels",
        ),
        Result(
            "features",
            "nav+m",
            "The feature vector of each frame the clusters are formed from.",
            display="channels",
        ),
    ),
    preview="labels",
    widget="radial",
)


class ClusterAnalysis(RadialFourierAnalysis):
    """The first pass: the radial Fourier features of every frame."""

    declaration = DECLARATION
    passes = 2

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        features = frame_features(self._coefficients(rows))
        return {
            "labels": np.full(self.nav_shape, np.nan),
            "means": np.full((*self.sig_shape, self.params["clusters"]), np.nan),
            "features": features.astype(rows.dtype),
        }

    def next_pass(self, results: dict[str, np.ndarray]) -> ClusterMeansAnalysis:
        features = results["features"]
        labels = kmeans_labels(features.reshape(self.n_frames, -1), self.params["clusters"])
        return ClusterMeansAnalysis(self, labels, features)


def frame_features(coefficients: np.ndarray) -> np.ndarray:
    """``nav + (bins * (1 + max_order),)`` features from ``nav + (bins, orders)`` coefficients:
    per ring its share of the intensity of all rings, then ``|c_n| / |c_0|`` for ``n >= 1``
    (0 where the denominator is 0)."""
    magnitude = np.abs(coefficients).astype(np.float64)
    order0 = magnitude[..., 0]
    total = order0.sum(axis=-1, keepdims=True)
    share = _ratio(order0, total)
    symmetry = _ratio(magnitude[..., 1:], order0[..., np.newaxis])
    nav = coefficients.shape[:-2]
    return np.concatenate([share, symmetry.reshape(*nav, -1)], axis=-1)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom``, 0 where ``bottom`` is 0 (NaN stays NaN)."""
    out = top / np.where(bottom > 0, bottom, 1)
    out[(bottom == 0) & ~np.isnan(out)] = 0
    return out


def kmeans_labels(features: np.ndarray, clusters: int) -> np.ndarray:
    """k-means labels of the ``(n, f)`` ``features`` rows without NaN, numbered by first row;
    -1 for the others. ``ParameterError`` (``clusters``) when fewer rows than clusters."""
    from sklearn.cluster import KMeans  # 1 s to import: only jobs that cluster pay for it

    valid = ~np.isnan(features).any(axis=1)
    count = int(np.count_nonzero(valid))
    if count < clusters:
        raise ParameterError(
            "clusters",
            f"must be at most the number of scan positions analysed ({count}), got {clusters}.",
        )
    fitted = KMeans(n_clusters=clusters, n_init=N_INIT, random_state=0).fit(
        features[valid].astype(np.float64)
    )
    found = np.asarray(fitted.labels_)
    _, first = np.unique(found, return_index=True)
    renumber = np.empty(clusters, dtype=np.int64)
    renumber[found[np.sort(first)]] = np.arange(len(first))
    labels = np.full(len(features), -1, dtype=np.int64)
    labels[valid] = renumber[found]
    return labels


class ClusterSums(TileReduction):
    """Per cluster the float64 sum of its frames and their count: ``((k, c), (k,))``."""

    def __init__(self, labels: np.ndarray, clusters: int) -> None:
        self.labels = labels.astype(np.int8 if clusters < 128 else np.int16)
        self.clusters = clusters

    def start(self, partition: Partition) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((self.clusters, partition.frame_size)), np.zeros(self.clusters)

    def add(
        self, value: tuple[np.ndarray, np.ndarray], first: int, tile: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        sums, counts = value
        labels = self.labels[first : first + tile.shape[0]]
        members = (labels == np.arange(self.clusters)[:, np.newaxis]).astype(np.float64)
        sums += members @ tile.astype(np.float64)  # (k, frames) x (frames, c), BLAS
        counts += members.sum(axis=1)
        return sums, counts


class ClusterMeansAnalysis(ReduceAnalysis):
    """The second pass: the mean frame of each cluster found by the first."""

    declaration = DECLARATION

    def __init__(self, first: ClusterAnalysis, labels: np.ndarray, features: np.ndarray) -> None:
        super().__init__(
            first.params, nav_shape=first.nav_shape, sig_shape=first.sig_shape, dtype=first.dtype
        )
        #: ``(n_frames,)`` cluster of each frame, -1 for frames not analysed
        self.labels = labels
        #: the first pass's features, passed on to the results
        self.features = features

    def task(self) -> ClusterSums:
        return ClusterSums(self.labels, self.params["clusters"])

    def wants(self, partition: Partition, roi: np.ndarray | None) -> bool:
        return bool((self.labels[partition.start : partition.stop] >= 0).any())

    def combine(self, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
        return a[0] + b[0], a[1] + b[1]

    def finish(self, value: Any | None) -> dict[str, np.ndarray]:
        k = self.params["clusters"]
        means = np.full((k, *self.sig_shape), np.nan)
        if value is not None:
            sums, counts = value
            seen = counts > 0
            means[seen] = (sums[seen] / counts[seen, np.newaxis]).reshape(-1, *self.sig_shape)
        means = np.ascontiguousarray(np.moveaxis(means, 0, -1))  # channels last, as all stacks
        labels = np.where(self.labels >= 0, self.labels, np.nan).reshape(self.nav_shape)
        return {"labels": labels, "means": means, "features": self.features}
