"""What an app above this one adds to the jobs app: a job kind, named by the module that holds it,
and the fields its jobs' JSON carries.

Kept apart from ``apps.jobs.kinds`` and ``apps.jobs.serializers`` so that an app's ``ready`` can
add them without importing either: those import every kind's body (thumbnails, copies, PIL), the
results' exports (tifffile) and the receiver's driver, 0.05-0.1 s of CPU in every process that
sets Django up, ``manage.py analyze`` included. A kind's module is imported when the kind is
first looked up (:class:`apps.jobs.kinds.KindRegistry`).
"""

from __future__ import annotations

from typing import Any

#: Kind name -> the module whose ``KIND`` it is.
KIND_MODULES: dict[str, str] = {}
#: Field name -> its JSON schema, for the ``Job`` schema.
JOB_FIELDS: dict[str, Any] = {}
#: The ``properties`` of the ``Job`` schemas built so far (see :func:`extend_job_schema`).
_SCHEMAS: list[dict[str, Any]] = []


def register_kind(name: str, module: str) -> None:
    """Adds the kind ``name`` (a ``Job.Kind`` choice), the ``KIND`` of ``module``; registering it
    again is a no-op."""
    KIND_MODULES[name] = module


def add_job_fields(**properties: Any) -> None:
    """Adds the fields a kind of an app above this one puts in its jobs' JSON
    (``JobKind.describe``) to the ``Job`` schema, whether it was built already or not."""
    JOB_FIELDS.update(properties)
    for schema in _SCHEMAS:
        schema.update(properties)


def extend_job_schema(properties: dict[str, Any]) -> None:
    """Gives the ``Job`` schema's ``properties`` the fields added so far and those added later."""
    properties.update(JOB_FIELDS)
    _SCHEMAS.append(properties)
