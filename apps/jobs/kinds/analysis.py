"""The analysis kind: one Core analysis over a dataset (or its ROI) on the cluster's executor;
its finish stores the results with their provenance record and the cache key of the data read
(``apps.jobs.cache``), any other end deletes the partial previews."""

from __future__ import annotations

import logging

from apps.core.identity import unchanged
from apps.datasets.services import dataset_identity_current, dataset_open_for_job
from apps.jobs.analysis import build_analysis
from apps.jobs.cache import cache_key
from apps.jobs.dbretry import with_db_retry
from apps.jobs.executor import get_executor
from apps.jobs.kinds.base import Ending, JobKind, JobRun, Outcome
from apps.jobs.models import Job, Mask
from apps.jobs.provenance import provenance_record
from apps.jobs.roi import roi_array
from apps.results.models import Result
from apps.results.store import results_replace

logger = logging.getLogger(__name__)


def analysis_body(run: JobRun) -> Outcome:
    job = run.job
    dataset = job.dataset
    analysis = build_analysis(
        dataset=dataset,
        analysis=job.analysis,
        params=job.params,
        mask_lookup=lambda pk: with_db_retry(
            lambda: Mask.objects.filter(pk=pk).first(), what=f"job {job.pk}: mask {pk}"
        ),
        job_lookup=lambda pk: with_db_retry(
            lambda: Job.objects.select_related("dataset").filter(pk=pk).first(),
            what=f"job {job.pk}: descan reference {pk}",
        ),
    )
    roi = roi_array(job.roi, dataset.nav_shape)
    # Opening checks the files against the owner's folders, which reads the database.
    data = with_db_retry(lambda: dataset_open_for_job(dataset), what=f"job {job.pk}: open")
    identity = with_db_retry(
        lambda: dataset_identity_current(dataset), what=f"job {job.pk}: identity"
    )
    logger.info("job %s: %s on %s (attempt %s)", job.pk, job.analysis, data, job.attempt)
    executor = get_executor()
    parts = executor.partitions_at(data, job.partitioning) if job.partitioning else None
    progress = run.progress(
        frame_bytes=data.frame_bytes, preview=analysis.preview, also=analysis.declaration.live
    )
    computed = executor.run(
        data,
        analysis,
        roi=roi,
        on_progress=progress,
        should_stop=run.should_stop,
        partitions=parts,
    )
    logger.info("job %s: %s frames in %.2f s", job.pk, computed.frames, computed.seconds)
    # The key of the data actually read; none if a file changed while the job ran.
    key = cache_key(dataset=dataset, identity=identity, analysis=analysis, roi=roi)
    return Outcome(
        frames=computed.frames,
        nbytes=computed.nbytes,
        partitions=[p.as_dict() for p in computed.partitions],
        payload=(computed.results, key if unchanged(identity) else ""),
        provenance=provenance_record(
            job=job, analysis=analysis, identity=identity, run=computed, executor=executor
        ),
        first_results=job.attempt == 1 and not progress.stored,
    )


def analysis_finish(job: Job, ending: Ending) -> list[Result]:
    if ending.status == Job.Status.FINISHED and ending.outcome is not None:
        results, key = ending.outcome.payload
        if key != job.cache_key:
            Job.objects.filter(pk=job.pk).update(cache_key=key)
        return results_replace(job=job, results=results, first=ending.outcome.first_results)
    Result.objects.filter(job_id=job.pk).delete()
    return []


KIND = JobKind(name=Job.Kind.ANALYSIS, body=analysis_body, finish=analysis_finish)
