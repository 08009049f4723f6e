"""The registry of job kinds: ``Job.kind`` names one, :func:`job_kind` finds it.

A new kind is a ``KIND`` (see :class:`~apps.jobs.kinds.base.JobKind`) and a choice in
``Job.Kind``. The kinds of this app are listed below; an app above this one (the live sessions
of ``apps.acquisition``) registers its kind with :func:`register` when Django starts (its
``AppConfig.ready``). The driver runs every kind the same way.
"""

from __future__ import annotations

from apps.jobs.kinds import analysis, ingest, reused, thumbnail
from apps.jobs.kinds.base import JobKind, UnknownJobKind

KINDS: dict[str, JobKind] = {
    kind.name: kind for kind in (analysis.KIND, ingest.KIND, reused.KIND, thumbnail.KIND)
}


def register(kind: JobKind) -> None:
    """Adds ``kind`` (its name must be a ``Job.Kind`` choice); registering it again is a no-op."""
    KINDS[kind.name] = kind


def job_kind(name: object) -> JobKind:
    """The kind called ``name``; UnknownJobKind (naming it and the known ones) otherwise."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UnknownJobKind(name, list(KINDS))
    return kind
