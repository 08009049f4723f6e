"""The result store: final result arrays and the latest partial preview of a running job.

Final results are written all at once in one transaction that also checks the job's attempt
(the fencing token of its run): a failed or superseded run never leaves half its results, and
saving twice replaces rather than duplicates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import connection, transaction

from apps.results.models import Result
from apps.results.npy import npy_dumps, npy_loads

if TYPE_CHECKING:
    from apps.jobs.models import Job


class StaleAttempt(Exception):
    """The job was claimed by a newer run (or deleted): this run must not write."""


def results_save(*, job: Job, results: dict[str, np.ndarray]) -> list[Result]:
    """Replace all results of ``job`` (and its partial preview) with ``results``."""
    with transaction.atomic():
        current = type(job).objects.select_for_update().filter(pk=job.pk, attempt=job.attempt)
        if not current.exists():
            raise StaleAttempt(f"job {job.pk} attempt {job.attempt} is no longer current.")
        return results_replace(job=job, results=results)


def results_replace(
    *, job: Job, results: dict[str, np.ndarray], first: bool = False
) -> list[Result]:
    """:func:`results_save` without its check of the attempt, for a caller whose transaction
    has just proved it (the driver's guarded update of the job's row); inside that
    transaction it adds no savepoint. ``first``: the caller knows that no result of ``job``
    is stored (its first attempt, which stored no preview), so none is deleted; a row there
    after all makes the insert fail on the store's unique names, not a duplicate."""
    rows = [_row(job, name, np.asarray(array), partial=False) for name, array in results.items()]
    with transaction.atomic(savepoint=False):
        if not first:
            _delete_results_of(job)
        return Result.objects.bulk_create(rows)


def _delete_results_of(job: Job) -> None:
    """Every result row of ``job``, deleted in one statement written out: no row refers to a
    result and no signal listens, so the ORM's delete (0.11 ms more CPU, on every job's
    finish) would only find that out again."""
    table = connection.ops.quote_name(Result._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE job_id = %s", [job.pk])  # noqa: S608


def results_copy(*, job: Job, rows: list[Result]) -> list[Result]:
    """Replace the results of ``job`` with byte copies of ``rows`` (another job's final
    results: a reused job's), inside the caller's transaction."""
    copies = [
        Result(
            job_id=job.pk,
            name=r.name,
            partial=False,
            dtype=r.dtype,
            shape=r.shape,
            nbytes=r.nbytes,
            data=bytes(r.data),
        )
        for r in rows
    ]
    with transaction.atomic(savepoint=False):
        Result.objects.filter(job_id=job.pk).delete()
        return Result.objects.bulk_create(copies)


def result_array(result: Result) -> np.ndarray:
    return npy_loads(result.data)


def partial_save(*, job: Job, name: str, array: np.ndarray) -> None:
    """Keep ``array`` as the latest partial preview ``name`` of ``job`` (a job's previews have
    one name, so one row per job).

    One statement, an upsert: it runs several times a second per job, in the process that also
    serves the websockets (a delete, a read and an update or insert took three).
    """
    row = _row(job, name, np.asarray(array), partial=True)
    Result.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["job", "name", "partial"],
        update_fields=["dtype", "shape", "nbytes", "data"],
    )


def partial_latest(job: Job) -> Result | None:
    return Result.objects.filter(job_id=job.pk, partial=True).order_by("-created").first()


def final_results(job: Job) -> list[Result]:
    return list(Result.objects.filter(job_id=job.pk, partial=False).defer("data").order_by("id"))


def _row(job: Job, name: str, array: np.ndarray, *, partial: bool) -> Result:
    if array.dtype.hasobject:
        raise TypeError(f"result {name!r} has dtype object; results must be numeric arrays.")
    fields: dict[str, Any] = {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "nbytes": int(array.nbytes),
        "data": npy_dumps(array),
    }
    return Result(job_id=job.pk, name=name, partial=partial, **fields)
