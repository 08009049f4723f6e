"""The provenance record of a job's results: everything needed to say how they were made, and
to make them again bit for bit (``POST /api/jobs/`` with ``record``, see docs/cache.md).

The record keeps the code's origin at its top level (``source``, ``version`` and, for a plugin,
``distribution``, ``sha256``, ``entry_point``), as ``Job.provenance`` always did, and adds the
dataset (catalogue id, format, shape and the identity of its files, by name), the analysis,
its parameters as submitted and normalised, the ROI, the engine version, the portal's git
revision, the executor and the partitioning the results were merged in.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

from apps import core
from apps.core.analyses import analysis_origin
from apps.core.analyses.base import Analysis
from apps.core.executor import Executor, InlineExecutor
from apps.core.runplan import RunResult
from apps.datasets.identity import public_identity
from apps.jobs.cache import canonical
from apps.jobs.models import Job

#: The version of the record's layout.
RECORD_VERSION = 1


def provenance_record(
    *,
    job: Job,
    analysis: Analysis,
    identity: dict[str, Any],
    run: RunResult,
    executor: Executor,
) -> dict[str, Any]:
    """The record of ``job``'s results, computed by ``executor`` in ``run`` from the files
    ``identity``."""
    dataset = job.dataset
    try:
        normalised = canonical(analysis.params)
    except TypeError:
        normalised = None
    return {
        **analysis_origin(analysis.name).as_json(),
        "record": RECORD_VERSION,
        "job": job.pk,
        "dataset": {
            "id": dataset.pk,
            "name": dataset.name,
            "format": dataset.format,
            "nav_shape": list(dataset.nav_shape),
            "sig_shape": list(dataset.sig_shape),
            "dtype": dataset.dtype,
            "identity": public_identity(identity),
        },
        "analysis": analysis.name,
        "params": job.params,
        "normalised_params": normalised,
        "roi": job.roi,
        "engine_version": core.ENGINE_VERSION,
        "git_revision": git_revision(),
        "executor": "inline" if isinstance(executor, InlineExecutor) else "dask",
        "workers": sorted({r.worker for r in run.partitions}),
        "partitions": [[int(a), int(b)] for a, b in run.ranges],
    }


@functools.cache
def git_revision() -> str:
    """The portal's git commit (``GIT_REVISION`` where the deployment has no git checkout),
    with ``+dirty`` if the checkout has uncommitted changes; "unknown" if neither tells."""
    if os.environ.get("GIT_REVISION"):
        return os.environ["GIT_REVISION"]
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5, check=True
        )
        return done.stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return revision + ("+dirty" if dirty else "")
