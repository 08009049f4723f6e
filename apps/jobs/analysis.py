"""Building the Core analysis of a job: API parameters (mask ids) to Core parameters (arrays)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.core.analyses import make_analysis
from apps.core.analyses.base import Analysis
from apps.core.errors import ParameterError
from apps.datasets.models import Dataset
from apps.jobs.masks import mask_array
from apps.jobs.models import Mask

MaskLookup = Callable[[int], Mask | None]


def build_analysis(
    *, dataset: Dataset, analysis: Any, params: Any, mask_lookup: MaskLookup
) -> Analysis:
    """The Core analysis for ``dataset``; ParameterError names the offending field."""
    if not isinstance(analysis, str) or not analysis:
        raise ParameterError("analysis", f"must be the name of an analysis, got {analysis!r:.40}.")
    if not isinstance(params, dict):
        raise ParameterError("params", f"must be an object, got {params!r:.40}.")
    if analysis == "masks" and "masks" in params:
        params = {**params, "masks": mask_array(_mask(params["masks"], mask_lookup))}
    return make_analysis(
        analysis,
        params,
        nav_shape=tuple(dataset.nav_shape),
        sig_shape=tuple(dataset.sig_shape),
        dtype=dataset.dtype,
    )


def _mask(value: Any, lookup: MaskLookup) -> Mask:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(
            "masks", f"must be the id of an uploaded mask (POST /api/masks/), got {value!r:.40}."
        )
    mask = lookup(value)
    if mask is None:
        raise ParameterError("masks", f"there is no mask {value} of yours for a visible dataset.")
    return mask
