"""Building the Core analysis of a job: API parameters (mask ids, a reference job's id) to Core
parameters (arrays)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.core.analyses import ANALYSES, make_analysis
from apps.core.analyses.base import Analysis
from apps.core.errors import ParameterError
from apps.datasets.models import Dataset
from apps.datasets.serializers import dataset_calibrated
from apps.jobs.descan import JobLookup, reference_coefficients
from apps.jobs.masks import mask_array
from apps.jobs.models import Mask

MaskLookup = Callable[[int], Mask | None]


def build_analysis(
    *,
    dataset: Dataset,
    analysis: Any,
    params: Any,
    mask_lookup: MaskLookup,
    job_lookup: JobLookup,
) -> Analysis:
    """The Core analysis for ``dataset``; ParameterError names the offending field.

    ``mask_lookup`` and ``job_lookup`` find the masks and jobs the parameters name among
    those the caller may use (at submission: the user's; when the job runs: any, the
    submission having checked).
    """
    if not isinstance(analysis, str) or not analysis:
        raise ParameterError("analysis", f"must be the name of an analysis, got {analysis!r:.40}.")
    if not isinstance(params, dict):
        raise ParameterError("params", f"must be an object, got {params!r:.40}.")
    if analysis == "masks" and "masks" in params:
        params = {**params, "masks": mask_array(_mask(params["masks"], mask_lookup))}
    if analysis == "com" and params.get("descan_reference") is not None:
        reference = reference_coefficients(
            params["descan_reference"], dataset=dataset, lookup=job_lookup
        )
        params = {**params, "descan_reference": reference}
    return make_analysis(
        analysis,
        params,
        nav_shape=tuple(dataset.nav_shape),
        sig_shape=tuple(dataset.sig_shape),
        dtype=dataset.dtype,
    )


def params_with_calibration(*, dataset: Dataset, analysis: Any, params: Any) -> Any:
    """``params`` with the parameters left out that default from the dataset's calibration
    (``Param.calibration``: the beam energy typed on the dataset page, its scan step...) filled
    in, so the job records the values it ran with. Anything malformed is returned as it is,
    for :func:`build_analysis` to refuse."""
    cls = ANALYSES.get(analysis) if isinstance(analysis, str) else None
    if cls is None or not isinstance(params, dict):
        return params
    return cls.declaration.with_calibration(params, dataset_calibrated(dataset))


def _mask(value: Any, lookup: MaskLookup) -> Mask:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(
            "masks", f"must be the id of an uploaded mask (POST /api/masks/), got {value!r:.40}."
        )
    mask = lookup(value)
    if mask is None:
        raise ParameterError("masks", f"there is no mask {value} of yours for a visible dataset.")
    return mask
