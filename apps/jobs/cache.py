"""The result cache: a job identical to a finished one is answered from that job's results.

Two jobs are identical when their :func:`cache_key` is: SHA-256 of the dataset's identity
(its files' sizes, modification times and hashes, with the format and its parameters:
:mod:`apps.core.identity`), the analysis and the code that runs it (a plugin's version and
code hash), the normalised parameters (defaults filled in; numbers compared as floats, so
``64`` and ``64.0`` are one value and ``64.00001`` another; arrays by their bytes), the ROI as
the scan positions it selects, and the engine version. A hit is a job of the kind ``reused``
(``apps.jobs.kinds.reused``) whose results are byte copies of the earlier job's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Exists, OuterRef

from apps import core
from apps.core.analyses import analysis_origin
from apps.core.analyses.base import Analysis
from apps.datasets.models import Dataset
from apps.jobs.access import visible_jobs
from apps.jobs.models import Job
from apps.results.models import Result


def cache_key(
    *, dataset: Dataset, identity: dict[str, Any], analysis: Analysis, roi: np.ndarray | None
) -> str:
    """The key of a job of ``analysis`` on ``dataset`` (whose files are ``identity``) over
    the scan positions ``roi`` (a boolean array of the scan shape, or None: all); "" when the
    parameters hold a value the key cannot name (no job is then reused or offered)."""
    try:
        params = canonical(analysis.params)
    except TypeError:
        return ""
    files = [
        [f["path"], f["size"], f["mtime_ns"], f["sha256"], f["hash"]]
        for f in identity.get("files", [])
    ]
    if not files:
        return ""
    document = {
        "files": files,
        "format": dataset.format,
        "format_params": canonical(dataset.params),
        "nav_shape": list(dataset.nav_shape),
        "sig_shape": list(dataset.sig_shape),
        "dtype": dataset.dtype,
        "analysis": analysis.name,
        "code": analysis_origin(analysis.name).as_json(),
        "params": params,
        "roi": None if roi is None else canonical(np.asarray(roi, dtype=bool)),
        "engine": core.ENGINE_VERSION,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def canonical(value: Any) -> Any:
    """``value`` as JSON in one spelling per meaning: numbers as the ``repr`` of their float
    (``64`` and ``64.0`` alike), arrays as dtype, shape and SHA-256 of their bytes, mappings
    with sorted string keys. TypeError for anything else."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return bool(value) if isinstance(value, np.bool_) else value
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return repr(number) if math.isfinite(number) else str(number)
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        digest = hashlib.sha256(data.tobytes()).hexdigest()
        return {"dtype": data.dtype.str, "shape": list(data.shape), "sha256": digest}
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no canonical form")


def reusable_job(*, user: Any, key: str) -> Job | None:
    """The newest finished job with ``key`` that ``user`` may see and whose results are still
    stored (a job whose results were deleted is never reused), or None."""
    if not key or not _finished_with(key):
        return None
    stored = Result.objects.filter(job=OuterRef("pk"), partial=False)
    return (
        visible_jobs(user)
        .filter(cache_key=key, status=Job.Status.FINISHED, kind__in=Job.ANALYSES)
        .filter(results_deleted__isnull=True)
        .filter(Exists(stored))
        .order_by("-finished", "-id")
        .first()
    )


def _finished_with(key: str) -> bool:
    """Whether any finished job has ``key``: one indexed look-up, written out. Most
    submissions (a drag's every new radius) find none, and the query above, built by the ORM
    with the user's visibility, cost 1-2 ms of CPU to compile for each."""
    table = connection.ops.quote_name(Job._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE cache_key = %s AND status = %s LIMIT 1",  # noqa: S608
            [key, Job.Status.FINISHED.value],
        )
        return cursor.fetchone() is not None
