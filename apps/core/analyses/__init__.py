"""The analyses (DESIGN section 8), one module each, behind one :class:`Analysis` interface.

``make_analysis(name, params, nav_shape=..., sig_shape=..., dtype=...)`` validates the
parameters against the dataset and returns a ready analysis; ``describe_analyses()`` lists
every analysis with its parameters and results for forms and the API schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apps.core.analyses.base import Analysis
from apps.core.analyses.com import COMAnalysis
from apps.core.analyses.masks import MasksAnalysis
from apps.core.analyses.pick import PickAnalysis
from apps.core.analyses.radial import RadialAnalysis
from apps.core.analyses.sum import SumAnalysis
from apps.core.analyses.virtual import VirtualAnalysis
from apps.core.errors import ParameterError

__all__ = ["ANALYSES", "Analysis", "describe_analyses", "make_analysis"]

ANALYSES: dict[str, type[Analysis]] = {
    cls.name: cls
    for cls in (
        SumAnalysis,
        PickAnalysis,
        VirtualAnalysis,
        COMAnalysis,
        RadialAnalysis,
        MasksAnalysis,
    )
}


def make_analysis(
    name: str,
    params: Mapping[str, Any] | None,
    *,
    nav_shape: Sequence[int],
    sig_shape: Sequence[int],
    dtype: Any,
) -> Analysis:
    """Build the analysis ``name`` for a dataset of ``nav_shape`` x ``sig_shape`` ``dtype``.

    Raises :class:`ParameterError` naming the field (``"analysis"``, ``"params"`` or a
    parameter) when the name is unknown or a parameter is missing, mistyped or out of range.
    """
    cls = ANALYSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ParameterError(
            "analysis", f"unknown analysis {name!r}; expected one of {', '.join(ANALYSES)}."
        )
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError(
            "params", f"must be an object of parameter names and values, got {params!r}."
        )
    return cls(params, nav_shape=nav_shape, sig_shape=sig_shape, dtype=dtype)


def describe_analyses() -> list[dict[str, Any]]:
    """Every analysis as ``{name, params: [{name, type, required, default, help, ...}],
    results: [{name, shape, help}], preview}`` (JSON-ready)."""
    return [cls.describe() for cls in ANALYSES.values()]
