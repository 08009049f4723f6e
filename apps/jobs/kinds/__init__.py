"""The registry of job kinds: ``Job.kind`` names one, :func:`job_kind` finds it.

A new kind is a ``KIND`` (see :class:`~apps.jobs.kinds.base.JobKind`) and a choice in
``Job.Kind``. The kinds of this app are listed below; an app above this one (the live sessions
of ``apps.acquisition``) registers its kind by module with
:func:`apps.jobs.extensions.register_kind` when Django starts (its ``AppConfig.ready``), and
:data:`KINDS` imports that module when the kind is first looked up. The driver runs every kind
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module

from apps.jobs.extensions import KIND_MODULES
from apps.jobs.kinds import analysis, ingest, reused, thumbnail
from apps.jobs.kinds.base import JobKind, UnknownJobKind


class KindRegistry(MutableMapping[str, JobKind]):
    """Kinds by name: this app's, and those registered by module, imported when first looked up
    (a kind replaced here, e.g. by a test, stays replaced until removed)."""

    def __init__(self, kinds: dict[str, JobKind]) -> None:
        self._kinds = kinds

    def __getitem__(self, name: str) -> JobKind:
        kind = self._kinds.get(name)
        if kind is None:
            kind = import_module(KIND_MODULES[name]).KIND  # KeyError: no such kind
            if kind.name != name:
                raise LookupError(f"{KIND_MODULES[name]}.KIND is {kind.name!r}, not {name!r}.")
            self._kinds[name] = kind
        return kind

    def __setitem__(self, name: str, kind: JobKind) -> None:
        self._kinds[name] = kind

    def __delitem__(self, name: str) -> None:
        del self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._kinds.keys() | KIND_MODULES.keys()))

    def __len__(self) -> int:
        return len(self._kinds.keys() | KIND_MODULES.keys())


KINDS = KindRegistry(
    {kind.name: kind for kind in (analysis.KIND, ingest.KIND, reused.KIND, thumbnail.KIND)}
)


def job_kind(name: object) -> JobKind:
    """The kind called ``name``; UnknownJobKind (naming it and the known ones) otherwise."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UnknownJobKind(name, list(KINDS))
    return kind
