"""Fluctuation electron microscopy (FEM): how much the diffracted intensity in a ring varies,
per frame and over the scan.

Parameters: ``cx, cy, ri, ro`` (the ring ``ri < d <= ro``, as the virtual ring detector;
``ri`` defaults to 0) and
``bins`` (1 to 1024, default 16): the ring cut into rings of equal width ``w = (ro - ri) / bins``
as the radial profile cuts it (bin ``k``: ``ri + k w < d <= ri + (k+1) w``).

Results

* ``std``: ``nav_shape``, float64: the population standard deviation (ddof 0) of the pixels in
  the ring, per frame, as LiberTEM's ``FEMUDF`` (whose centre is ``(cy, cx)``); NaN outside
  the scan ROI.
* ``variance``: ``(bins,)``, float64: the normalised variance of each bin over the scan,
  ``V(k) = <I_k^2> / <I_k>^2 - 1``, where ``I_k`` is a frame's mean intensity in bin ``k`` and
  ``<>`` the mean over the frames read (the variance of the annular mean); NaN for a bin with no
  pixel and while no frame has arrived.
* ``radius``: ``(bins,)``, float64: each bin's middle radius ``ri + (k + 1/2) w`` in pixels.

Each partition gives its frames' ``std`` rows and the moments of its ``I_k``
(:mod:`apps.core.moments`); ``V(k) = var_k / mean_k^2``, computed from the merged moments
without subtracting large numbers.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from apps.core import kernels, masks
from apps.core.analyses import geometry
from apps.core.analyses.base import ReduceAnalysis, TileReduction
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.geometry_params import CX, CY, RI, RO
from apps.core.io.base import Partition, roi_runs
from apps.core.moments import (
    Moments,
    combine_moments,
    compiled_tile,
    empty_moments,
    moments_of,
    variance,
)

MAX_BINS = 1024


class FEMValue(NamedTuple):
    """Some frames' ring ``std``: ``(start, rows)`` runs of the flat scan, and the moments of
    their bin means."""

    runs: tuple[tuple[int, np.ndarray], ...]
    bins: Moments


class RingFluctuation(TileReduction):
    """Per frame the std of the ring's pixels and the mean of each bin that has pixels.

    ``pixels``: the ring's flat pixel indices, ordered by bin; non-empty bin ``b`` holds
    ``pixels[starts[b] : starts[b + 1]]``, ``counts[b]`` of them. ``runs`` ``(r, 2)``: the
    same pixels as rising runs ``[start, stop)`` of the flat frame.
    """

    def __init__(
        self,
        pixels: np.ndarray,
        starts: np.ndarray,
        counts: np.ndarray,
        runs: np.ndarray,
        dtype: np.dtype,
    ) -> None:
        # Tiles are read in the data's own dtype, never converted as a whole.
        self.work_itemsize = np.dtype(dtype).itemsize
        self.pixels = pixels
        self.starts = starts
        self.counts = counts
        self.runs = runs

    def start(self, partition: Partition) -> FEMValue:
        rows = np.full(partition.n_frames, np.nan)
        return FEMValue(((partition.start, rows),), empty_moments(self.counts.shape[0]))

    def add(self, value: FEMValue, first: int, tile: np.ndarray) -> FEMValue:
        (start, rows), *_ = value.runs
        lo = first - start
        k = tile.shape[0]
        bin_sums = np.empty((k, self.counts.shape[0]))
        ring_statistics(tile, self.pixels, self.starts, self.runs, rows[lo : lo + k], bin_sums)
        return FEMValue(value.runs, combine_moments(value.bins, moments_of(bin_sums / self.counts)))


def ring_statistics(
    tile: np.ndarray,
    pixels: np.ndarray,
    starts: np.ndarray,
    runs: np.ndarray,
    std: np.ndarray,
    bin_sums: np.ndarray,
) -> None:
    """Per frame of ``tile`` ``(k, c)``: into ``std`` ``(k,)`` the population standard deviation
    of its ``pixels`` and into ``bin_sums`` ``(k, bins)`` the sums of ``pixels[starts[b] :
    starts[b + 1]]`` (``starts`` ends with ``len(pixels)``), in float64, frames over threads.
    ``runs``: the same pixels as rising runs ``[start, stop)``."""
    tile = compiled_tile(tile)
    from apps.core import ring_jit  # numba is slow to import: only when a tile comes

    def frames(lo: int, hi: int) -> None:
        ring_jit.ring_statistics(tile, lo, hi, pixels, starts, runs, std, bin_sums)

    kernels.split_over_threads(frames, tile.shape[0], values=tile.shape[0] * pixels.shape[0])


class FEMAnalysis(ReduceAnalysis):
    """The ring's std per frame and the normalised variance V(k) over the scan."""

    declaration = AnalysisDeclaration(
        name="fem",
        title="Fluctuation EM",
        summary=(
            "Fluctuation electron microscopy: the standard deviation of the intensities in a "
            "ring per frame, and the normalised variance V(k) over the scan per radius."
        ),
        params=(
            CX,
            CY,
            RI,
            RO,
            Param(
                "bins",
                "integer",
                "Number of rings of equal width for V(k).",
                default=16,
                minimum=1,
                maximum=MAX_BINS,
            ),
        ),
        results=(
            Result(
                "std",
                "nav",
                "Standard deviation of the pixels in the ring per scan position.",
                unit="data",
                dtype="float64",
            ),
            Result(
                "variance",
                "bins",
                "Normalised variance V(k) = <I²>/<I>² − 1 of each ring's mean intensity over "
                "the scan.",
                dtype="float64",
            ),
            Result("radius", "bins", "Middle radius of each ring.", unit="px", dtype="float64"),
        ),
        preview="std",
        widget="radial",
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**geometry.checked_ring(params, self.sig_shape), "bins": params["bins"]}

    @functools.cached_property
    def bin_of_pixel(self) -> np.ndarray:
        """Each detector pixel's bin, flat; -1 outside the ring."""
        return masks.radial_bin_index(self.sig_shape, **self.params).ravel()

    def task(self) -> RingFluctuation:
        index = self.bin_of_pixel
        pixels = np.flatnonzero(index >= 0)
        pixels = pixels[np.argsort(index[pixels], kind="stable")]
        counts = np.bincount(index[pixels], minlength=self.params["bins"])
        present = counts > 0
        starts = np.concatenate(([0], np.cumsum(counts[present])))
        runs = np.array(roi_runs(index >= 0), dtype=np.int64).reshape(-1, 2)
        bin_pixels = counts[present].astype(np.float64)
        return RingFluctuation(pixels, starts, bin_pixels, runs, self.dtype)

    def combine(self, a: FEMValue, b: FEMValue) -> FEMValue:
        return FEMValue(a.runs + b.runs, combine_moments(a.bins, b.bins))

    def finish(self, value: FEMValue | None) -> dict[str, np.ndarray]:
        n_bins = self.params["bins"]
        std = np.full(self.n_frames, np.nan)
        for start, rows in () if value is None else value.runs:
            std[start : start + rows.shape[0]] = rows
        present = np.bincount(self.bin_of_pixel[self.bin_of_pixel >= 0], minlength=n_bins) > 0
        normalised = np.full(n_bins, np.nan)
        if value is not None and value.bins.n:
            with np.errstate(divide="ignore", invalid="ignore"):
                normalised[present] = variance(value.bins) / value.bins.mean**2
        ri, ro = self.params["ri"], self.params["ro"]
        width = (ro - ri) / n_bins
        return {
            "std": std.reshape(self.nav_shape),
            "variance": normalised,
            "radius": ri + (np.arange(n_bins) + 0.5) * width,
        }
