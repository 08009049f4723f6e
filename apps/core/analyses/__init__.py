"""The analyses (DESIGN section 8), one module each, behind one :class:`Analysis` interface.

Each analysis module declares its parameters, results and controls once
(:class:`~apps.core.analyses.declaration.AnalysisDeclaration`); everything else is generated:
``make_analysis(name, params, nav_shape=..., sig_shape=..., dtype=...)`` validates the
parameters against the declaration and the dataset, ``describe_analyses()`` gives the JSON for
forms and ``GET /api/analyses/``, ``params_schema(name)`` the JSON Schema for the OpenAPI
document.

``ANALYSES`` holds the built-in analyses and, after :func:`load_plugins` (the portal calls it
at startup), the installed plugins' (:mod:`apps.core.analyses.plugins`); ``analysis_origin``
says where each one's code comes from, for the provenance of its results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apps.core.analyses.base import Analysis
from apps.core.analyses.clustering import ClusterAnalysis
from apps.core.analyses.com import COMAnalysis
from apps.core.analyses.declaration import AnalysisDeclaration, check_declarations
from apps.core.analyses.fem import FEMAnalysis
from apps.core.analyses.masks import MasksAnalysis
from apps.core.analyses.parallax import ParallaxAnalysis
from apps.core.analyses.pick import PickAnalysis
from apps.core.analyses.plugins import BUILTIN, CodeOrigin, PluginFailure, discover
from apps.core.analyses.radial import RadialAnalysis
from apps.core.analyses.radial_fourier import RadialFourierAnalysis
from apps.core.analyses.schema import declaration_schema
from apps.core.analyses.ssb import SSBAnalysis
from apps.core.analyses.std import StdAnalysis
from apps.core.analyses.stddev import StdDevAnalysis
from apps.core.analyses.strain import StrainAnalysis
from apps.core.analyses.sum import SumAnalysis
from apps.core.analyses.virtual import VirtualAnalysis
from apps.core.errors import ParameterError

__all__ = [
    "ANALYSES",
    "Analysis",
    "analysis_origin",
    "declarations",
    "describe_analyses",
    "load_plugins",
    "make_analysis",
    "params_schema",
    "plugin_failures",
]

ANALYSES: dict[str, type[Analysis]] = {
    cls.declaration.name: cls
    for cls in (
        SumAnalysis,
        PickAnalysis,
        VirtualAnalysis,
        COMAnalysis,
        RadialAnalysis,
        MasksAnalysis,
        StdAnalysis,
        StdDevAnalysis,
        StrainAnalysis,
        RadialFourierAnalysis,
        FEMAnalysis,
        ClusterAnalysis,
        ParallaxAnalysis,
        SSBAnalysis,
    )
}
check_declarations([cls.declaration for cls in ANALYSES.values()])
_ORIGINS: dict[str, CodeOrigin] = dict.fromkeys(ANALYSES, BUILTIN)
_FAILURES: list[PluginFailure] = []
_PLUGINS_LOADED = False


def load_plugins() -> list[PluginFailure]:
    """Add the installed plugins' analyses to :data:`ANALYSES` (once per process; later calls
    change nothing) and return the plugins that were skipped, with the reason."""
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        found = discover(ANALYSES)
        ANALYSES.update(found.analyses)
        _ORIGINS.update(found.origins)
        _FAILURES.extend(found.failures)
    return plugin_failures()


def plugin_failures() -> list[PluginFailure]:
    """The plugins :func:`load_plugins` skipped, and why."""
    return list(_FAILURES)


def analysis_origin(name: str) -> CodeOrigin:
    """Where the code of analysis ``name`` comes from (KeyError if there is none)."""
    return _ORIGINS[name]


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


def declarations() -> list[AnalysisDeclaration]:
    """Every analysis's declaration, in menu order."""
    return [cls.declaration for cls in ANALYSES.values()]


def describe_analyses() -> list[dict[str, Any]]:
    """Every analysis as JSON: ``{name, title, summary, params, results, preview, modes,
    field}`` (see :meth:`AnalysisDeclaration.as_json`) and ``origin``, where its code comes
    from (:meth:`CodeOrigin.as_json`)."""
    return [
        cls.declaration.as_json() | {"origin": analysis_origin(name).as_json()}
        for name, cls in ANALYSES.items()
    ]


def params_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the ``params`` of analysis ``name`` (KeyError if there is none)."""
    return declaration_schema(ANALYSES[name].declaration)
