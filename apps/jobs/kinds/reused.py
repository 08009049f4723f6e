"""The reused kind: a job answered from the results of an identical finished job (a hit of the
result cache, ``apps.jobs.cache``); its results are byte copies of that job's, made through the
one driver and event protocol like any other job's, and its provenance is that job's record
(with ``reused_from``)."""

from __future__ import annotations

from apps.core.errors import CoreError
from apps.jobs.dbretry import with_db_retry
from apps.jobs.kinds.base import Ending, JobKind, JobRun, Outcome
from apps.jobs.models import Job
from apps.results.models import Result
from apps.results.store import results_copy


def reused_body(run: JobRun) -> Outcome:
    job = run.job
    source_id = job.reused_from_id
    source = with_db_retry(
        lambda: Job.objects.filter(pk=source_id).only("pk", "provenance").first(),
        what=f"job {job.pk}: reused job {source_id}",
    )
    rows = with_db_retry(
        lambda: list(Result.objects.filter(job_id=source_id, partial=False).order_by("id")),
        what=f"job {job.pk}: results of job {source_id}",
    )
    if source is None or not rows:
        # Deleted (retention, the job's owner) since the hit: never serve what is gone.
        raise CoreError(
            f"The results of job {source_id}, which this job reuses, were deleted meanwhile; "
            "submit the job again to compute them."
        )
    return Outcome(
        frames=job.frames_total,
        nbytes=0,
        payload=rows,
        provenance={**source.provenance, "reused_from": source_id},
    )


def reused_finish(job: Job, ending: Ending) -> list[Result]:
    if ending.status == Job.Status.FINISHED and ending.outcome is not None:
        return results_copy(job=job, rows=ending.outcome.payload)
    return []


KIND = JobKind(name=Job.Kind.REUSED, body=reused_body, finish=reused_finish)
