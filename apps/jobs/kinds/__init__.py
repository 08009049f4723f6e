"""The registry of job kinds: ``Job.kind`` names one, :func:`job_kind` finds it.

A new kind is a module here with a ``KIND`` (see :class:`~apps.jobs.kinds.base.JobKind`), a
choice in ``Job.Kind`` and a line below; the driver runs every kind the same way.
"""

from __future__ import annotations

from apps.jobs.kinds import analysis, ingest, live, reused, thumbnail
from apps.jobs.kinds.base import JobKind, UnknownJobKind

KINDS: dict[str, JobKind] = {
    kind.name: kind for kind in (analysis.KIND, ingest.KIND, live.KIND, reused.KIND, thumbnail.KIND)
}


def job_kind(name: object) -> JobKind:
    """The kind called ``name``; UnknownJobKind (naming it and the known ones) otherwise."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UnknownJobKind(name, list(KINDS))
    return kind
