"""``com``'s ``descan_reference``: the id of a finished ``com`` job (a vacuum scan of the same
geometry) in the API, the Core's 3×2 descan coefficients in the detector frame.

The reference job's ``descan`` result is in its own scan frame (after its flip and rotation,
its ``"auto"`` ones read from its ``guess``); turning it back with the inverse of that
orientation gives the detector frame, which the new job turns into its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from apps.core.analyses.com_corrections import orientation
from apps.core.analyses.params import AUTO
from apps.core.errors import ParameterError
from apps.datasets.models import Dataset
from apps.jobs.models import Job
from apps.results.models import Result
from apps.results.store import result_array

JobLookup = Callable[[int], Job | None]
FIELD = "descan_reference"


def reference_coefficients(value: Any, *, dataset: Dataset, lookup: JobLookup) -> np.ndarray:
    """The detector-frame descan coefficients of job ``value``; ParameterError naming
    ``descan_reference`` when it is no finished com job of this geometry the caller may see."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(FIELD, f"must be the id of a finished com job, got {value!r:.40}.")
    job = lookup(value)
    if job is None:
        raise ParameterError(FIELD, f"there is no job {value} you can see.")
    if job.kind != Job.Kind.ANALYSIS or job.analysis != "com":
        raise ParameterError(FIELD, f"job {value} is a {job.analysis or job.kind} job, not com.")
    if job.status != Job.Status.FINISHED:
        raise ParameterError(FIELD, f"job {value} is {job.status}; it must have finished.")
    _check_geometry(job, dataset)
    if job.results_deleted is not None:
        raise ParameterError(FIELD, f"job {value}'s results were deleted; run it again.")
    results = _results(job, ("descan", "guess"))
    if "descan" not in results:
        raise ParameterError(
            FIELD, f"job {value} has no descan result (it ran before descan existed); rerun it."
        )
    descan = results["descan"]
    if not descan.any():
        raise ParameterError(
            FIELD, f"job {value} subtracted no descan (descan none); run it with descan plane."
        )
    flip_y, degrees = _orientation_of(job, results.get("guess"))
    back = np.linalg.inv(orientation(flip_y=flip_y, degrees=degrees))
    return descan @ back.T


def _check_geometry(job: Job, dataset: Dataset) -> None:
    theirs = (list(job.dataset.nav_shape), list(job.dataset.sig_shape))
    ours = (list(dataset.nav_shape), list(dataset.sig_shape))
    if theirs != ours:
        raise ParameterError(
            FIELD,
            f"job {job.pk} is on a scan {theirs[0]} of frames {theirs[1]}; this dataset's scan "
            f"is {ours[0]} of frames {ours[1]}: a reference needs the same geometry.",
        )


def _results(job: Job, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    rows = Result.objects.filter(job_id=job.pk, partial=False, name__in=names)
    return {row.name: result_array(row) for row in rows}


def _orientation_of(job: Job, guess: np.ndarray | None) -> tuple[bool, float]:
    """The flip and rotation job ``job`` applied (its guess where it asked for ``"auto"``)."""
    params = job.params or {}
    flip_y, degrees = params.get("flip_y", False), params.get("scan_rotation", 0.0)
    if AUTO in (flip_y, degrees) and guess is None:
        raise ParameterError(FIELD, f"job {job.pk} has no guess result; rerun it.")
    if flip_y == AUTO:
        flip_y = bool(guess[1])
    if degrees == AUTO:
        degrees = float(guess[0])
    return bool(flip_y), float(degrees or 0.0)
