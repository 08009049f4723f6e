"""Radial Fourier analysis: per ring, the angular Fourier coefficients of every frame.

A crystalline region diffracts into spots with the rotational symmetry of its zone axis (2, 4,
6-fold ...), an amorphous one into uniform rings; the angular Fourier series of the intensity
in a ring tells them apart. Compatible with LiberTEM 0.16's radial Fourier analysis
(``create_radial_fourier_analysis``): same rings, same angle, same sign, same ``dominant``.

Parameters: ``cx, cy`` (centre), ``ri`` (default 0), ``ro > ri``, ``bins`` (rings of equal
width ``w = (ro - ri) / bins``, LiberTEM's ``n_bins``) and ``max_order`` (orders 0 to
``max_order``). Ring ``b`` weighs a pixel at distance ``d`` by LiberTEM's antialiased
``w_b = clip(w/2 + 1/2 - |d - r_b|, 0, 1)``, ``r_b = ri + (b + 1/2) w``
(:func:`apps.core.masks.smooth_radial_bins`); ``phi = atan2(y - cy, x - cx)``.

Results (NaN outside the scan ROI):

* ``coefficients``: ``nav + (bins, max_order + 1)`` complex,
  ``c[b, n] = sum_p w_b(p) I(p) exp(+i n phi(p))`` (LiberTEM's sign: the complex conjugate of
  the textbook ``exp(-i n phi)`` coefficient; magnitudes are the same);
* ``relative``: ``|c[b, n]| / |c[b, 0]|`` (order 0 gives 1; 0 where ``c[b, 0] = 0``): for
  non-negative data the fraction of the ring's intensity in order ``n``, 0 to 1;
* ``dominant``: per ring the order ``n >= 1`` of largest ``|c[b, n]|``, or 0 where every order
  ``>= 1`` is below a fifth of that ring's largest ``|c[b, n >= 1]|`` over the scan
  (LiberTEM's threshold).

The computation is one mask product (the GEMM path): the complex masks are split into real
masks, ``w_b cos(n phi)`` for orders 0 to ``max_order`` and ``w_b sin(n phi)`` for orders 1 to
``max_order`` (order 0 has no imaginary part), in float32, or float64 for float64 data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from apps.core import masks
from apps.core.analyses import geometry
from apps.core.analyses.base import MaskAnalysis
from apps.core.analyses.declaration import AnalysisDeclaration, Param, Result
from apps.core.analyses.geometry_params import CX, CY, RI, RO
from apps.core.errors import ParameterError
from apps.core.masks import MaskStack
from apps.core.ops import compute_dtype

#: The real masks a job may multiply with, ``bins * (2 max_order + 1)``.
MAX_MASKS = 1024
#: A fifth of the largest coefficient of a ring over the scan: weaker orders do not dominate.
DOMINANT_THRESHOLD = 0.2


class RadialFourierAnalysis(MaskAnalysis):
    """Angular Fourier coefficients of ``bins`` rings around ``(cy, cx)``."""

    declaration = AnalysisDeclaration(
        name="radial_fourier",
        title="Radial Fourier (symmetry)",
        summary="Per ring of the frame, its angular Fourier coefficients: which rotational "
        "symmetry (order n) each scan position shows, and how strongly.",
        params=(
            CX,
            CY,
            dataclasses.replace(RI, help="Inner radius of the first ring."),
            dataclasses.replace(RO, help="Outer radius of the last ring (> ri)."),
            Param(
                "bins",
                "integer",
                "Number of rings of equal width (LiberTEM's n_bins).",
                default=1,
                minimum=1,
                maximum=MAX_MASKS // 3,
            ),
            Param(
                "max_order",
                "integer",
                f"Highest angular order n; bins x (2 max_order + 1) <= {MAX_MASKS}.",
                default=12,
                minimum=1,
                maximum=(MAX_MASKS - 1) // 2,
            ),
        ),
        results=(
            Result(
                "coefficients",
                "nav+bins+orders",
                "Fourier coefficient c[b, n] of ring b (axis -2), order n (axis -1).",
                unit="data",
                dtype="complex",
                display="channels",
            ),
            Result(
                "relative",
                "nav+bins+orders",
                "|c[b, n]| / |c[b, 0]|: the share of order n in ring b.",
                display="channels",
            ),
            Result(
                "dominant",
                "nav+bins",
                "The strongest order n >= 1 of each ring, 0 where none stands out.",
                dtype="float64",
                display="channels",
            ),
        ),
        preview="relative",
        widget="radial",
    )

    @property
    def orders(self) -> int:
        return int(self.params["max_order"]) + 1

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        cy, cx, ri, ro = params["cy"], params["cx"], params["ri"], params["ro"]
        geometry.check_ring_covers(self.sig_shape, cy=cy, cx=cx, ri=ri, ro=ro)
        bins, max_order = params["bins"], params["max_order"]
        if bins * (2 * max_order + 1) > MAX_MASKS:
            raise ParameterError(
                "max_order",
                f"with bins={bins} must be at most {(MAX_MASKS // bins - 1) // 2}: "
                f"bins x (2 max_order + 1) real masks are at most {MAX_MASKS}, "
                f"got {bins * (2 * max_order + 1)}.",
            )
        return params

    def mask_stack(self) -> MaskStack:
        p = self.params
        centre = {"cy": p["cy"], "cx": p["cx"]}
        rings = masks.smooth_radial_bins(
            self.sig_shape, ri=p["ri"], ro=p["ro"], bins=p["bins"], **centre
        )
        angle = masks.polar_angle(self.sig_shape, **centre)
        n_phi = np.arange(self.orders)[:, np.newaxis, np.newaxis] * angle
        real = rings[:, np.newaxis] * np.cos(n_phi)
        imag = rings[:, np.newaxis] * np.sin(n_phi[1:])
        stack = np.concatenate(
            [real.reshape(-1, *self.sig_shape), imag.reshape(-1, *self.sig_shape)]
        )
        return MaskStack(stack.astype(compute_dtype(self.dtype)))

    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        coefficients = self._coefficients(rows)
        magnitude = np.abs(coefficients)
        order0 = magnitude[..., :1]
        relative = magnitude / np.where(order0 > 0, order0, 1)
        relative[(order0 == 0) & ~np.isnan(magnitude)] = 0
        return {
            "coefficients": coefficients,
            "relative": relative.astype(rows.dtype),
            "dominant": dominant_order(magnitude),
        }

    def _coefficients(self, rows: np.ndarray) -> np.ndarray:
        """``nav + (bins, orders)`` complex from the rows of the real and imaginary masks."""
        bins, orders = self.params["bins"], self.orders
        nav = rows.shape[:-1]
        out = np.zeros((*nav, bins, orders), dtype=np.result_type(rows.dtype, np.complex64))
        out.real = rows[..., : bins * orders].reshape(*nav, bins, orders)
        out.imag[..., 1:] = rows[..., bins * orders :].reshape(*nav, bins, orders - 1)
        return out


def dominant_order(magnitude: np.ndarray) -> np.ndarray:
    """LiberTEM's dominant order per ring from ``|c|`` of shape ``nav + (bins, orders)``:
    ``argmax_n |c[b, n]|`` over ``n >= 1``, 0 where all are below :data:`DOMINANT_THRESHOLD`
    times the ring's largest over the scan. float64 ``nav + (bins,)``, NaN for NaN frames."""
    higher = magnitude[..., 1:].astype(np.float64)
    missing = np.isnan(higher).any(axis=(-2, -1))
    flat = higher[~missing]  # (frames, bins, orders - 1)
    out = np.full(higher.shape[:-1], np.nan)
    if flat.size == 0:
        return out
    threshold = DOMINANT_THRESHOLD * flat.max(axis=(0, 2))
    strongest = np.argmax(flat, axis=-1) + 1.0
    strongest[(flat < threshold[:, np.newaxis]).all(axis=-1)] = 0
    out[~missing] = strongest
    return out
